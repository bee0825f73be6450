package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// kernel is what a receiver asks of the system: package bpf and netlink
// on Linux (kernel_linux.go), fakes in tests.
type kernel struct {
	// loadDatapath loads the built-in counter's datapath.
	loadDatapath func(opts bpf.Options) (datapath, error)
	// openProgram reads and checks a user's program, once.
	openProgram func(spec bpf.CustomSpec) (programObject, error)
	// describeDriver tells what attaching XDP does to an interface's
	// driver, for the log line before XDP is attached.
	describeDriver func(name string) (bpf.Driver, error)
	links          linkSource
}

// xdpScraper is one receiver instance: it starts counting, collects, and
// stops. What it counts with is its source; which interfaces, and where
// each stands, its registry; link events reach the registry through its
// watch.
//
// Locking: mu guards everything below it but stopping. Collections
// (scrape, shutdown) and link events (the watch's goroutine) take it;
// nothing blocks on I/O other than netlink and bpf() calls while holding
// it, and the watch's goroutine is stopped without it.
type xdpScraper struct {
	cfg    *Config
	logger *zap.Logger
	links  linkSource
	src    source
	em     *emitter
	claim  *claimant
	match  matcher
	now    func() time.Time
	// next receives the points of the final collection at shutdown, which
	// the controller does not make: without them, what was counted since
	// the previous collection would be lost.
	next consumer.Metrics

	// stopping is set as shutdown begins, before it waits for mu: the
	// watch, which may be attaching a long listing one interface per hold
	// of mu, sees it without waiting its turn and stops attaching; and
	// collections renew nothing.
	stopping atomic.Bool

	mu       sync.Mutex
	started  bool
	reg      *registry
	watch    *watch
	watchErr error // non-nil while link changes are not followed
	status   statusReporter
}

func newScraper(cfg *Config, set receiver.Settings, k kernel, now func() time.Time) *xdpScraper {
	s := &xdpScraper{
		cfg:    cfg,
		logger: set.Logger,
		links:  k.links,
		em:     newEmitter(cfg.MetricsBuilderConfig, set),
		claim:  &claimant{id: set.ID},
		match:  newMatcher(cfg.Interfaces, cfg.ExcludeInterfaces),
		now:    now,
	}
	mode, _ := bpf.ParseMode(s.cfg.AttachMode) // Validate checked it
	if p := cfg.Program.Get(); p != nil {
		spec := p.spec()
		s.src = &programSource{open: func() (programObject, error) { return k.openProgram(spec) }, mode: mode, names: p.keyNames(), em: s.em,
			describe: k.describeDriver, logger: s.logger}
	} else {
		opts := bpf.Options{Capacity: cfg.MaxInterfaces, TCLegacy: os.Getenv(tcLegacyEnv) == "1"}
		b := newBuiltinSource(func() (datapath, error) { return k.loadDatapath(opts) }, mode, cfg.directions(), s.em, s.logger)
		b.describe = k.describeDriver
		s.src = b
	}
	return s
}

// tcLegacyEnv, set to 1, makes TC attach as clsact filters, as on kernels
// before 6.6, where TCX exists too: for the end-to-end tests of that path,
// which run the built collector on newer kernels. It is no setting of the
// receiver's.
const tcLegacyEnv = "OTELCOL_XDP_TC_LEGACY"

// start loads the source, then attaches every exactly named interface, or
// fails and attaches none; then it follows link changes, and its watch
// attaches what the patterns match, in the background (see watch). A
// pattern that matches nothing, or an interface of a pattern that cannot
// be attached, does not fail start: interfaces matched by a pattern come
// and go, and their faults show in the status.
func (s *xdpScraper) start(_ context.Context, host component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("xdp receiver is already started")
	}
	s.stopping.Store(false)
	// Once, before anything is attached: a datapath or program that cannot
	// be loaded fails Start with what is wrong with it, rather than with an
	// attach error per interface.
	if err := s.src.start(func() pcommon.Timestamp { return pcommon.NewTimestampFromTime(s.now()) }); err != nil {
		return fmt.Errorf("xdp receiver attached none of %s: %w", quoteAll(s.cfg.Interfaces), advise(err, nil))
	}
	// The interfaces named exactly are claimed, all or none, before any is
	// attached: an instance that cannot have them all attaches nothing.
	exact := exactNames(s.cfg.Interfaces)
	indices := make([]int, len(exact))
	for i, name := range exact {
		index, err := s.links.index(name)
		if err != nil {
			return errors.Join(fmt.Errorf("xdp receiver attached none of %s: %w", quoteAll(exact), err), s.src.close())
		}
		indices[i] = index
	}
	if err := s.claim.claimExact(exact, indices); err != nil {
		return errors.Join(err, s.src.close())
	}
	s.reg = newRegistry(s.src, s.links, s.match, s.claim, s.em, s.now, s.logger)
	fail := func(err error) error {
		s.reg.closeAll()
		s.claim.releaseAll()
		s.reg = nil
		s.em.take() // points of interfaces that went meanwhile: nobody reads them
		return errors.Join(err, s.src.close())
	}
	for i, name := range exact {
		ifc := s.reg.add(name, true)
		ifc.seen, ifc.claimed = indices[i], indices[i]
		if err := s.reg.attach(ifc); err != nil {
			return fail(fmt.Errorf("xdp receiver attached none of %s: %w", quoteAll(exact), advise(err, s.reg.hostInterfaces)))
		}
	}
	w, err := s.follow()
	if err != nil {
		return fail(fmt.Errorf("xdp receiver attached none of %s: %w", quoteAll(s.cfg.Interfaces), err))
	}
	s.started, s.watch, s.watchErr = true, w, nil
	s.status = statusReporter{host: host}
	go s.run(w)
	return nil
}

// scrape emits one delta point per active series of every interface that
// could be read, and the last points of series that ended since the
// previous scrape. An interface that cannot be read leaves the others
// alone: the scrape returns their data with a partial scrape error, and
// the interface's next successful read covers the missed interval.
// Interfaces matched by patterns are best effort: their faults show in the
// status and the log, not as scrape errors.
func (s *xdpScraper) scrape(context.Context) (pmetric.Metrics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return pmetric.NewMetrics(), nil
	}
	if s.watchErr != nil && !s.stopping.Load() {
		s.renewWatch()
	}
	errs, failed := s.reg.collect(false)
	s.status.update(s.reg, s.watchErr, true)
	md := s.em.take()
	if len(errs) > 0 {
		return md, scrapererror.NewPartialScrapeError(errors.Join(errs...), failed)
	}
	return md, nil
}

// shutdown ends the link subscription, collects one last time and detaches
// everything. The final collection detaches every interface before it
// reads, so that its counts are the last, and subscribes to nothing,
// attaches nothing and reports no status: the receiver is going. It is
// safe without start and safe twice.
func (s *xdpScraper) shutdown(ctx context.Context) error {
	s.stopping.Store(true)
	s.mu.Lock()
	w := s.watch
	s.watch = nil
	s.mu.Unlock()
	if w != nil {
		w.stop() // without the lock: the watch's goroutine may be waiting for it
	}

	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return nil
	}
	errs, _ := s.reg.collect(true)
	md := s.em.take()
	s.reg.closeAll()
	err := s.src.close()
	s.claim.releaseAll()
	s.started, s.reg = false, nil
	s.mu.Unlock()

	if len(errs) > 0 {
		s.logger.Warn("the last collection before shutdown was partial", zap.Error(errors.Join(errs...)))
	}
	if s.next == nil || md.DataPointCount() == 0 {
		return err
	}
	if cerr := s.next.ConsumeMetrics(ctx, md); cerr != nil {
		err = errors.Join(err, fmt.Errorf("handing on the last collection before shutdown: %w", cerr))
	}
	return err
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
