package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
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
	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
	"github.com/otelcol-xdp/otelcol-xdp/internal/pods"
)

// kernel is what a receiver asks of the system: package bpf and netlink
// on Linux (kernel_linux.go), fakes in tests. H and P are what a datapath
// and a user's program attach to one interface, *bpf.Interface and
// *bpf.CustomAttachment on Linux: package bpf's types are the receiver's
// narrow interfaces as they are.
type kernel[H slotHandle, P programHandle] struct {
	// loadDatapath loads the built-in counter's datapath.
	loadDatapath func(opts bpf.Options) (datapath[H], error)
	// openProgram reads and checks a user's program, once.
	openProgram func(spec bpf.CustomSpec) (programObject[P], error)
	// describeDriver tells what attaching XDP does to an interface's
	// driver, for the log line before XDP is attached.
	describeDriver func(name string) (bpf.Driver, error)
	links          linkSource
	// watchPods follows which pod each interface belongs to (pods.go);
	// nil where pods are not attributed.
	watchPods func(chan<- pods.Event, <-chan struct{}, func(error)) error
}

// xdpScraper is one receiver instance: it starts counting, collects, and
// stops. What it counts with is its source; which interfaces it wants, its
// discovery; where each stands, and what is attached to it, its
// lifecycle; link events reach the discovery through its watch.
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

	// pods follows which pod each interface belongs to, or is nil: pods
	// are not attributed. Its goroutine is stopped without mu.
	pods *podWatch

	mu       sync.Mutex
	started  bool
	found    *discovery
	life     *lifecycle
	watch    *watch
	watchErr error // non-nil while link changes are not followed
	podsErr  error // non-nil while pods are not followed
	status   statusReporter
}

func newScraper[H slotHandle, P programHandle](cfg *Config, set receiver.Settings, k kernel[H, P], now func() time.Time) *xdpScraper {
	s := &xdpScraper{
		cfg:    cfg,
		logger: set.Logger,
		links:  k.links,
		em:     newEmitter(cfg.MetricsBuilderConfig, set),
		claim:  &claimant{id: set.ID},
		match:  newMatcher(cfg.Interfaces, cfg.ExcludeInterfaces),
		now:    now,
	}
	if cfg.Pods.Enabled && cfg.ResourceAttributes.K8sPodIP.Enabled && k.watchPods != nil {
		s.pods = &podWatch{watch: k.watchPods, family: cfg.Pods.IPFamily, retry: podRetry}
	}
	mode, _ := bpf.ParseMode(s.cfg.AttachMode) // Validate checked it
	if p := cfg.Program.Get(); p != nil {
		spec := p.spec()
		s.src = &programSource[P]{open: func() (programObject[P], error) { return k.openProgram(spec) }, mode: mode,
			names: p.keyNames(), em: s.em, describe: k.describeDriver, logger: s.logger}
	} else {
		opts := bpf.Options{Capacity: cfg.MaxInterfaces, TCLegacy: os.Getenv(tcLegacyEnv) == "1"}
		b := newBuiltinSource(func() (datapath[H], error) { return k.loadDatapath(opts) }, mode, cfg.directions(), s.em, s.logger)
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
	s.life = newLifecycle(s.src, s.em, s.now, s.logger)
	s.found = newDiscovery(s.life, s.links, s.match, s.claim, s.logger)
	fail := func(err error) error {
		s.life.releaseAll(s.found.ifaces) // and the last points of interfaces that went meanwhile: nobody reads them
		s.claim.releaseAll()
		s.found, s.life = nil, nil
		return errors.Join(err, s.src.close())
	}
	if err := s.found.wantExact(exactNames(s.cfg.Interfaces)); err != nil {
		return fail(err)
	}
	w, err := follow(s.links, s.logger)
	if err != nil {
		return fail(fmt.Errorf("xdp receiver attached none of %s: %w", quoteAll(s.cfg.Interfaces), err))
	}
	s.found.prune(w.listing)
	s.started, s.watch, s.watchErr, s.podsErr = true, w, nil, nil
	s.status = statusReporter{host: host}
	go w.run(s.handle, s.watchEnded, s.logger)
	if s.pods != nil {
		s.pods.start(s.belongs, s.podsFault)
	}
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
	errs, failed := s.collect(false)
	s.status.update(s.found, s.watchErr, s.podsErr, true)
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
	if s.pods != nil {
		s.pods.stop() // likewise
	}

	s.mu.Lock()
	if !s.started {
		s.mu.Unlock()
		return nil
	}
	errs, _ := s.collect(true)
	md := s.em.take()
	s.life.releaseAll(s.found.ifaces)
	err := s.src.close()
	s.claim.releaseAll()
	s.started, s.found, s.life = false, nil, nil
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

// collect emits the last points of the attachments that ended since the
// previous collection, then reads every attached interface and emits its
// points, and tries again what is pending, faulted or skipped. The final
// collection, at shutdown, detaches every interface first, so that the
// counts it reads are the last, and tries nothing again. It returns the
// faults of exactly named interfaces, which are partial scrape errors, and
// how many points they cost.
func (s *xdpScraper) collect(final bool) (errs []error, failed int) {
	if final {
		s.life.detachAll(s.found.ifaces)
	}
	s.life.emitEnded()
	collectErr := s.src.collect()
	for _, name := range slices.Clone(s.found.sortedNames()) {
		ifc, ok := s.found.ifaces[name]
		if !ok {
			continue // forgotten since: a re-created interface was
		}
		switch {
		case ifc.state == stateAttached && collectErr != nil:
			s.life.move(ifc, evReadFailed, fmt.Errorf("reading the counters of %q: %w", ifc.name, collectErr))
		case ifc.state == stateAttached:
			if s.life.read(ifc, final) {
				s.found.stopped(ifc)
				s.life.emitEnded()
			}
		case final:
		case ifc.state == stateSkipped, ifc.state == statePending, ifc.state == stateFaulted:
			// Gone interfaces come back through link events, not by
			// being looked for; the others are tried again.
			s.found.retry(ifc)
		}
		if ifc.err != nil && ifc.exact {
			errs = append(errs, ifc.err)
			if ifc.tap != nil {
				failed += ifc.tap.activeSeries() * s.src.pointsPerSeries()
			}
		}
	}
	if collectErr == nil {
		s.src.emitOwn(s.em, func() pcommon.Timestamp { return pcommon.NewTimestampFromTime(s.now()) })
	}
	return errs, failed
}

// handle applies one link event, from the watch's goroutine, and returns
// how many interfaces it attached. Points wait for the next collection.
func (s *xdpScraper) handle(e links.Event) (attached int) {
	if s.stopping.Load() {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopping.Load() {
		return 0
	}
	before := len(s.life.byIndex)
	s.found.apply(e)
	s.status.update(s.found, s.watchErr, s.podsErr, false)
	return max(len(s.life.byIndex)-before, 0)
}

// watchEnded notes that the subscription ended by itself (the socket
// overflowed or failed): the next collection subscribes again; meanwhile
// the status says that changes are not followed.
func (s *xdpScraper) watchEnded() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watchErr = errors.New("the netlink subscription to interface changes ended: interfaces that come or go are not " +
		"followed until it is renewed, at the next collection")
	if s.started {
		s.status.update(s.found, s.watchErr, s.podsErr, false)
	}
}

// podsFault notes, from the pod watch's goroutine, the error that keeps
// pods from being followed, or nil once they are again. Meanwhile the
// interfaces keep the pods they had, and new ones count as the node's.
func (s *xdpScraper) podsFault(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopping.Load() {
		return
	}
	switch {
	case err != nil:
		err = fmt.Errorf("following which pod each interface belongs to: %w", err)
		if s.podsErr == nil {
			s.logger.Warn("pods are not followed: interfaces keep the pods they had, new ones count as the node's, until it works again",
				zap.Error(err))
		}
	case s.podsErr != nil:
		s.logger.Info("following which pod each interface belongs to again")
	}
	s.podsErr = err
	s.status.update(s.found, s.watchErr, s.podsErr, false)
}

// renewWatch subscribes again after the subscription ended by itself, and
// catches up with what changed meanwhile. Callers hold s.mu; the ended
// watch's goroutine no longer needs it.
func (s *xdpScraper) renewWatch() {
	if s.watch != nil {
		s.watch.stop()
		s.watch = nil
	}
	w, err := follow(s.links, s.logger)
	if err != nil {
		s.watchErr = err
		return
	}
	s.found.prune(w.listing)
	s.logger.Info("following network interfaces again")
	s.watch, s.watchErr = w, nil
	go w.run(s.handle, s.watchEnded, s.logger)
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// belongs applies a pod event, from the pod watch's goroutine: the
// interface with index belongs to the pod whose IP pod is, or to none.
func (s *xdpScraper) belongs(index int, pod string) {
	if s.stopping.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started || s.stopping.Load() {
		return
	}
	s.life.belongs(index, pod)
}
