//go:build linux

package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// xdpScraper owns the attachments of one receiver instance. Scrapes and
// link changes, handled on the watch goroutine, both take the mutex.
type xdpScraper struct {
	cfg      *Config
	logger   *zap.Logger
	src      source // what is attached and read: the built-in counter or the user's program
	links    linkSource
	now      func() time.Time
	claimant *claimant
	match    matcher
	// next receives the points of a last collection at shutdown, which the
	// controller does not make: without them, what was counted since the
	// previous collection would be lost.
	next consumer.Metrics

	mu        sync.Mutex
	started   bool
	host      component.Host
	mode      bpf.Mode
	states    map[string]*ifaceState
	order     []string // the names of states, sorted: scrapes are deterministic
	watch     *watch
	watchErr  error           // non-nil while link changes are not followed
	statusKey string          // what the last status report was about; "" is OK
	pending   pmetric.Metrics // last points of series that ended between scrapes
	mb        *metadata.MetricsBuilder
}

// ifaceState is one interface the receiver counts or means to count.
type ifaceState struct {
	name   string
	exact  bool   // named exactly in the config, rather than matched by a pattern
	reader reader // nil while not attached
	index  int    // the ifindex the reader is attached to
	// series are the interface's series, nil until it is first attached: a
	// state that attaches again restarts its series rather than creating
	// new ones.
	series    series
	gone      bool   // the interface does not exist (exact names only: others are forgotten)
	skipped   bool   // another receiver instance counts it (patterns only)
	fault     error  // why it is not counting, for the status; nil while fine
	faultKind string // what kind of fault, so that status is reported on change only
}

// Kinds of faults: the status changes when the set of (interface, kind)
// does, not when an error's text does (attach errors list the host's
// interfaces, which change all the time).
const (
	faultGone     = "gone"
	faultAttach   = "attach"
	faultForeign  = "foreign"
	faultDetached = "detached"
	faultRead     = "read"
)

func newScraper(cfg *Config, set receiver.Settings, k kernel, links linkSource, now func() time.Time) *xdpScraper {
	return &xdpScraper{
		cfg:      cfg,
		logger:   set.Logger,
		src:      newSource(cfg, k),
		links:    links,
		now:      now,
		claimant: &claimant{id: set.ID},
		match:    newMatcher(cfg.Interfaces, cfg.ExcludeInterfaces),
		mb:       metadata.NewMetricsBuilder(cfg.MetricsBuilderConfig, set),
		pending:  pmetric.NewMetrics(),
	}
}

// start checks the user's program, if any, then attaches every exactly
// named interface, or fails and attaches none; then it attaches whatever
// the patterns match and follows link changes. A pattern that matches nothing, or an interface of a pattern
// that cannot be attached, does not fail start: interfaces matched by a
// pattern come and go, and their faults show in the status.
func (s *xdpScraper) start(_ context.Context, host component.Host) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("xdp receiver is already started")
	}
	mode, err := bpf.ParseMode(s.cfg.AttachMode)
	if err != nil {
		return err
	}
	// Once, before anything is attached: a program that cannot be used
	// fails Start with what is wrong with it, rather than with an attach
	// error per interface.
	if err := s.src.prepare(); err != nil {
		return fmt.Errorf("xdp receiver attached none of %s: %w", quoteAll(s.cfg.Interfaces), s.advise(err))
	}
	exact := exactNames(s.cfg.Interfaces)
	if err := s.claimant.claim(exact); err != nil {
		return err
	}
	s.mode = mode
	s.states = map[string]*ifaceState{}
	s.order = nil
	fail := func(err error) error {
		err = errors.Join(err, s.closeAll())
		s.claimant.release(s.order)
		s.claimant.release(exact)
		s.states, s.order = nil, nil
		return err
	}
	for _, name := range exact {
		ifc := s.add(name, true)
		if err := s.attachState(ifc); err != nil {
			return fail(fmt.Errorf("xdp receiver attached none of %s: %w", quoteAll(exact), s.advise(err)))
		}
	}
	w, ch, err := s.follow()
	if err != nil {
		return fail(fmt.Errorf("xdp receiver attached none of %s: %w", quoteAll(s.cfg.Interfaces), err))
	}
	s.started, s.host, s.watch, s.watchErr, s.statusKey = true, host, w, nil, ""
	go s.run(w, ch)
	return nil
}

// shutdown ends the link subscription and detaches everything. It is safe
// without start and safe twice. Final points of series that ended since
// the last scrape are dropped: there is no scrape left to emit them.
func (s *xdpScraper) shutdown(ctx context.Context) error {
	s.mu.Lock()
	w := s.watch
	s.watch = nil
	s.mu.Unlock()
	if w != nil {
		w.stop() // without the mutex: the watch goroutine may be waiting for it
	}
	flushErr := s.flush(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	err := errors.Join(flushErr, s.closeAll())
	s.claimant.release(s.order)
	s.claimant.release(exactNames(s.cfg.Interfaces))
	s.states, s.order, s.host, s.started = nil, nil, nil, false
	s.pending = pmetric.NewMetrics()
	return err
}

// flush collects once more, before anything is detached, and hands the
// points to next: the controller has stopped collecting by the time it
// shuts the scraper down, and the counts since its last collection would
// otherwise never be reported.
func (s *xdpScraper) flush(ctx context.Context) error {
	if s.next == nil {
		return nil
	}
	md, err := s.scrape(ctx)
	if err != nil {
		s.logger.Warn("the last collection before shutdown was partial", zap.Error(err))
	}
	if md.DataPointCount() == 0 {
		return nil
	}
	if err := s.next.ConsumeMetrics(ctx, md); err != nil {
		return fmt.Errorf("handing on the last collection before shutdown: %w", err)
	}
	return nil
}

// add creates the state of an interface to count.
func (s *xdpScraper) add(name string, exact bool) *ifaceState {
	ifc := &ifaceState{name: name, exact: exact}
	s.states[name] = ifc
	i, _ := slices.BinarySearch(s.order, name)
	s.order = slices.Insert(s.order, i, name)
	return ifc
}

// forget drops the state of an interface matched by a pattern, which went.
func (s *xdpScraper) forget(ifc *ifaceState) {
	delete(s.states, ifc.name)
	if i, ok := slices.BinarySearch(s.order, ifc.name); ok {
		s.order = slices.Delete(s.order, i, i+1)
	}
	s.claimant.release([]string{ifc.name})
}

// attachState attaches ifc. An interface matched by a pattern is attached
// only if no other receiver instance counts it. A new attachment counts
// from zero, so its series start (again) at the moment of attachment.
func (s *xdpScraper) attachState(ifc *ifaceState) error {
	if !ifc.exact {
		if other, ok := s.claimant.tryClaim(ifc.name); !ok {
			if !ifc.skipped {
				s.logger.Debug("interface matches a pattern but another receiver counts it", zap.String("interface", ifc.name),
					zap.Stringer("counted_by", other))
			}
			ifc.skipped, ifc.fault, ifc.faultKind = true, nil, ""
			return nil
		}
		ifc.skipped = false
	}
	// Taken before attaching: the program may count a packet before
	// Attach returns, and every counted packet must fall inside the first
	// point's interval.
	at := pcommon.NewTimestampFromTime(s.now())
	r, err := s.src.attach(ifc.name, s.mode)
	if err != nil {
		return err
	}
	ifc.reader, ifc.index, ifc.gone = r, r.Ifindex(), false
	ifc.fault, ifc.faultKind = nil, ""
	if ifc.series != nil {
		ifc.series.reattached(at)
	} else {
		ifc.series = s.src.newSeries(at)
	}
	fields := []zap.Field{zap.String("interface", ifc.name), zap.Int("ifindex", ifc.index)}
	if m, ok := r.(interface{ Mode() bpf.Mode }); ok {
		fields = append(fields, zap.Stringer("attach_mode", m.Mode()))
	}
	if p := s.cfg.Program.Get(); p != nil {
		fields = append(fields, zap.String("object", p.Object), zap.String("function_name", p.FunctionName), zap.String("map", p.Map))
	}
	s.logger.Info("counting packets with XDP", fields...)
	return nil
}

// retry attaches ifc after a failure or an appearance, and classifies what
// goes wrong: an interface that turns out not to exist is gone (and, if
// matched by a pattern, forgotten), a foreign program is reported as such.
func (s *xdpScraper) retry(ifc *ifaceState) {
	err := s.attachState(ifc)
	if err == nil {
		return
	}
	if index, lerr := s.links.index(ifc.name); lerr == nil && index == 0 {
		s.markGone(ifc)
		return
	}
	kind := faultAttach
	var fe *bpf.ForeignProgramError
	if errors.As(err, &fe) {
		kind = faultForeign
	}
	s.setFault(ifc, kind, fmt.Errorf("attaching XDP to %q again: %w", ifc.name, s.advise(err)))
}

// setFault records why ifc is not counting; it logs only changes, as
// attach retries repeat the same fault at every scrape.
func (s *xdpScraper) setFault(ifc *ifaceState, kind string, err error) {
	if ifc.faultKind != kind {
		s.logger.Warn("interface is not counted", zap.String("interface", ifc.name), zap.Error(err))
	}
	ifc.fault, ifc.faultKind = err, kind
}

// markGone handles an interface that no longer exists: one matched by a
// pattern is forgotten (it may come back, as a new interface with new
// series), one named exactly is a fault until it returns.
func (s *xdpScraper) markGone(ifc *ifaceState) {
	if !ifc.exact {
		s.logger.Info("interface is gone: its series end", zap.String("interface", ifc.name))
		s.forget(ifc)
		return
	}
	ifc.gone = true
	s.setFault(ifc, faultGone, fmt.Errorf("interface %q is gone: it was deleted or moved to another network namespace; "+
		"counting resumes when it returns", ifc.name))
}

// linkAppeared handles a link that exists now, under name.
func (s *xdpScraper) linkAppeared(name string, index int) {
	// A link renamed away from a name we count: the old name is gone.
	for _, n := range s.order {
		if ifc := s.states[n]; ifc.reader != nil && index != 0 && ifc.index == index && n != name {
			s.linkGone(n, index)
			break
		}
	}
	ifc, ok := s.states[name]
	switch {
	case ok && ifc.reader != nil && ifc.index == index:
		return // already counted: one of the many changes of a counted link
	case ok && ifc.reader != nil:
		// Another link under the name: the old one went without our
		// seeing it go.
		s.finish(ifc)
	case ok:
	case s.match.matchesPattern(name):
		ifc = s.add(name, false)
	default:
		return
	}
	if ifc.skipped {
		return // retried at every scrape
	}
	if ifc.gone {
		s.logger.Info("interface is back: counting packets with XDP again", zap.String("interface", name))
	}
	s.retry(ifc)
}

// linkGone handles the disappearance of the link index (0: whichever)
// named name. It ignores late news of a link we no longer count.
func (s *xdpScraper) linkGone(name string, index int) {
	ifc, ok := s.states[name]
	if !ok || (ifc.reader != nil && index != 0 && ifc.index != index) {
		return
	}
	s.finish(ifc)
	s.markGone(ifc)
}

// finish ends ifc's attachment. Its map stays readable, frozen, after the
// interface or link is gone: the series' last delta is read now and
// emitted with the next scrape. If it cannot be read, that last interval is
// lost, never guessed.
func (s *xdpScraper) finish(ifc *ifaceState) {
	if ifc.reader == nil {
		return
	}
	err := ifc.series.read(ifc.reader)
	if err == nil || errors.Is(err, errDetached) {
		s.emitInto(s.pending, ifc)
	} else {
		s.logger.Warn("the last counts of an interface could not be read: its last interval is not reported",
			zap.String("interface", ifc.name), zap.Error(err))
	}
	s.close(ifc)
}

func (s *xdpScraper) close(ifc *ifaceState) {
	if err := ifc.reader.Close(); err != nil {
		s.logger.Warn("detaching XDP", zap.String("interface", ifc.name), zap.Error(err))
	}
	ifc.reader, ifc.index = nil, 0
}

// emitInto turns the counts just read from ifc into points appended to md.
func (s *xdpScraper) emitInto(md pmetric.Metrics, ifc *ifaceState) {
	// Taken after the read, so that every packet the read counted falls
	// inside this point's interval.
	now := pcommon.NewTimestampFromTime(s.now())
	if restarted := ifc.series.emit(s.mb, ifc.name, now); restarted > 0 {
		s.logger.Warn("XDP counters went backwards; their series continue from the new values",
			zap.String("interface", ifc.name), zap.Int("series", restarted))
	}
	appendMetrics(md, s.mb.Emit())
}

// scrape emits one delta point per active series of every interface that
// could be read, and the last points of series that ended since the
// previous scrape. An interface that cannot be read leaves the others
// alone: the scrape returns their data with a partial scrape error, and the
// interface's next successful read covers the missed interval. Interfaces
// matched by patterns are best effort: their faults show in the status and
// the log, not as scrape errors.
func (s *xdpScraper) scrape(context.Context) (pmetric.Metrics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	md := s.pending
	s.pending = pmetric.NewMetrics()
	if !s.started {
		return md, nil
	}
	var errs []error
	failed := 0
	if s.watchErr != nil {
		s.renewWatch()
	}
	for _, name := range append([]string(nil), s.order...) {
		ifc, ok := s.states[name]
		if !ok {
			continue // forgotten by a previous iteration's rename handling
		}
		s.scrapeOne(md, ifc)
		if ifc.fault != nil && ifc.exact {
			errs = append(errs, ifc.fault)
			if ifc.series != nil {
				failed += ifc.series.activeSeries() * s.src.metrics()
			}
		}
	}
	s.updateStatus()
	if len(errs) > 0 {
		return md, scrapererror.NewPartialScrapeError(errors.Join(errs...), failed)
	}
	return md, nil
}

func (s *xdpScraper) scrapeOne(md pmetric.Metrics, ifc *ifaceState) {
	if ifc.reader == nil {
		// Gone interfaces come back through link changes, not by being
		// looked for; the others failed to attach and are tried again.
		if !ifc.gone {
			s.retry(ifc)
		}
		return // a new attachment reports from the next scrape on
	}
	err := ifc.series.read(ifc.reader)
	switch {
	case err == nil:
		if ifc.faultKind == faultRead {
			ifc.fault, ifc.faultKind = nil, ""
		}
		s.emitInto(md, ifc)
	case errors.Is(err, errDetached):
		// The totals are the last counts: emit them, then find out why,
		// before the link change, if any, arrives.
		old := ifc.index
		s.emitInto(md, ifc)
		s.close(ifc)
		index, lerr := s.links.index(ifc.name)
		switch {
		case lerr == nil && index == 0:
			s.markGone(ifc)
		case lerr == nil && index != old:
			// Deleted and already created again: a new interface, not a
			// link detached from outside.
			s.markGone(ifc)
			s.linkAppeared(ifc.name, index)
		default:
			// Detached from outside: attached again at the next scrape,
			// if no other program took the slot meanwhile.
			s.setFault(ifc, faultDetached, err)
		}
	default:
		s.setFault(ifc, faultRead, err)
	}
}

// renewWatch subscribes again after the subscription ended by itself, and
// catches up with what changed meanwhile. Callers hold s.mu; the ended
// watch's goroutine no longer needs it.
func (s *xdpScraper) renewWatch() {
	if s.watch != nil {
		close(s.watch.done)
		<-s.watch.exited
		s.watch = nil
	}
	w, ch, err := s.follow()
	if err != nil {
		s.watchErr = err
		return
	}
	s.logger.Info("following network interfaces again")
	s.watch, s.watchErr = w, nil
	go s.run(w, ch)
}

// appendMetrics moves src's points into dst, under one resource and scope.
// The builder is emitted once per interface because it checks each new
// point against every point recorded since its last emit, to aggregate
// points whose attributes users disabled: over all interfaces at once that
// is quadratic (2.4ms for 16 interfaces instead of 0.8ms). Points of two
// interfaces never aggregate, network.interface.name being required, so
// nothing is lost by emitting per interface.
func appendMetrics(dst, src pmetric.Metrics) {
	if src.ResourceMetrics().Len() == 0 {
		return
	}
	if dst.ResourceMetrics().Len() == 0 {
		src.ResourceMetrics().MoveAndAppendTo(dst.ResourceMetrics())
		return
	}
	into := dst.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	from := src.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
	for i := 0; i < from.Len(); i++ {
		m := from.At(i)
		if j := metricIndex(into, m.Name()); j >= 0 {
			m.Sum().DataPoints().MoveAndAppendTo(into.At(j).Sum().DataPoints())
		} else {
			m.MoveTo(into.AppendEmpty())
		}
	}
}

func metricIndex(ms pmetric.MetricSlice, name string) int {
	for i := 0; i < ms.Len(); i++ {
		if ms.At(i).Name() == name {
			return i
		}
	}
	return -1
}

// updateStatus reports the receiver's status when what it is about
// changes: recoverable while an exactly named interface is absent, an
// attach or read failed, or link changes are not followed; OK once every
// configured interface is counted again.
func (s *xdpScraper) updateStatus() {
	var key strings.Builder
	var errs []error
	if s.watchErr != nil {
		key.WriteString("watch;")
		errs = append(errs, s.watchErr)
	}
	for _, name := range s.order {
		if ifc := s.states[name]; ifc.fault != nil {
			key.WriteString(name + ":" + ifc.faultKind + ";")
			errs = append(errs, ifc.fault)
		}
	}
	if key.String() == s.statusKey || s.host == nil {
		return
	}
	s.statusKey = key.String()
	if len(errs) == 0 {
		componentstatus.ReportStatus(s.host, componentstatus.NewEvent(componentstatus.StatusOK))
		return
	}
	componentstatus.ReportStatus(s.host, componentstatus.NewRecoverableErrorEvent(errors.Join(errs...)))
}

// aggregatesClasses tells whether an enabled metric leaves out
// network.type or network.transport, so that the builder sums classes.
func aggregatesClasses(cfg *Config) bool {
	p, b := cfg.Metrics.XdpPackets, cfg.Metrics.XdpBytes
	packetsSum := !slices.Contains(p.EnabledAttributes, metadata.XdpPacketsMetricAttributeKeyNetworkType) ||
		!slices.Contains(p.EnabledAttributes, metadata.XdpPacketsMetricAttributeKeyNetworkTransport)
	bytesSum := !slices.Contains(b.EnabledAttributes, metadata.XdpBytesMetricAttributeKeyNetworkType) ||
		!slices.Contains(b.EnabledAttributes, metadata.XdpBytesMetricAttributeKeyNetworkTransport)
	return p.Enabled && packetsSum || b.Enabled && bytesSum
}

// closeAll detaches every attachment, without emitting anything.
func (s *xdpScraper) closeAll() error {
	var errs []error
	for _, name := range s.order {
		ifc := s.states[name]
		if ifc.reader == nil {
			continue
		}
		if err := ifc.reader.Close(); err != nil {
			errs = append(errs, err)
		}
		ifc.reader = nil
	}
	return errors.Join(errs...)
}

// advise adds advice to an error of package bpf (advice.go), with the
// interfaces that exist for one that does not.
func (s *xdpScraper) advise(err error) error {
	return advise(err, func() []string {
		links, lerr := s.links.list()
		if lerr != nil {
			return nil
		}
		return slices.Collect(maps.Keys(links))
	})
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
