package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
)

// ifaceState is where an interface that the receiver means to count
// stands. Every interface is in exactly one.
type ifaceState int

const (
	// statePending: wanted, not attached yet; attached as soon as it can be.
	statePending ifaceState = iota
	// stateAttached: counting.
	stateAttached
	// stateGone: named exactly, and no interface has the name now; it is
	// attached again when one appears. (An interface matched by a pattern
	// that goes is forgotten instead.)
	stateGone
	// stateSkipped: matched by a pattern, and another receiver instance
	// counts it (or this one, under another name); tried again at every
	// collection.
	stateSkipped
	// stateFaulted: an attach or a read failed, or the program was
	// detached from outside; tried again at every collection.
	stateFaulted
)

var stateNames = [...]string{statePending: "pending", stateAttached: "attached", stateGone: "gone", stateSkipped: "skipped", stateFaulted: "faulted"}

func (s ifaceState) String() string { return stateNames[s] }

// Kinds of faults: the status changes when the set of (interface, kind)
// does, not when an error's text does (an error that lists the host's
// interfaces changes all the time).
const (
	faultGone     = "gone"
	faultAttach   = "attach"
	faultClaimed  = "claimed"
	faultForeign  = "foreign"
	faultDetached = "detached"
	faultRead     = "read"
)

// iface is one interface the receiver means to count.
type iface struct {
	name  string
	exact bool // named in the config, rather than matched by a pattern
	state ifaceState
	// att and index are the attachment and the interface's index, while
	// attached.
	att   attachment
	index int
	// seen is the interface's index as the last link event, listing or
	// attach found it, or 0 when unknown; claimed is the index of the
	// interface claimed for it (claims.go), or 0.
	seen, claimed int
	// series are the interface's series, from its first attachment on: an
	// interface attached again restarts them rather than making new ones.
	series series
	// fault is why the interface is gone or faulted, for the status.
	fault     error
	faultKind string
}

// registry holds every interface a receiver instance means to count, and
// moves each through its states as link events, collections, start and
// shutdown find it. It is not safe for concurrent use: xdpScraper calls it
// under its lock.
type registry struct {
	src    source
	links  linkSource
	match  matcher
	claim  *claimant
	em     *emitter
	now    func() time.Time
	logger *zap.Logger

	ifaces  map[string]*iface
	byIndex map[int]*iface // the attached ones, by the index they count
	names   []string       // the names of ifaces, sorted when sorted is set
	sorted  bool
}

func newRegistry(src source, ls linkSource, match matcher, claim *claimant, em *emitter, now func() time.Time, logger *zap.Logger) *registry {
	return &registry{src: src, links: ls, match: match, claim: claim, em: em, now: now, logger: logger,
		ifaces: map[string]*iface{}, byIndex: map[int]*iface{}}
}

// sortedNames are the names of every interface, in order: collections are
// deterministic. Sorted once after interfaces came or went, not per add.
func (r *registry) sortedNames() []string {
	if !r.sorted {
		r.names = slices.Sorted(maps.Keys(r.ifaces))
		r.sorted = true
	}
	return r.names
}

func (r *registry) add(name string, exact bool) *iface {
	ifc := &iface{name: name, exact: exact}
	r.ifaces[name] = ifc
	r.sorted = false
	return ifc
}

// forget drops an interface matched by a pattern, which went: if it comes
// back, it is a new interface with new series.
func (r *registry) forget(ifc *iface) {
	delete(r.ifaces, ifc.name)
	r.sorted = false
	r.unclaim(ifc)
}

// unclaim releases the interface claimed for ifc: it is gone.
func (r *registry) unclaim(ifc *iface) {
	if ifc.claimed != 0 {
		r.claim.unclaim(ifc.claimed)
		ifc.claimed = 0
	}
}

// claimFor claims the interface with index for ifc, and releases the one
// claimed before, a predecessor under the same name.
func (r *registry) claimFor(ifc *iface, index int) error {
	if ifc.claimed == index {
		return nil
	}
	r.unclaim(ifc)
	if err := r.claim.claim(index, ifc.name, ifc.exact); err != nil {
		return err
	}
	ifc.claimed = index
	return nil
}

// attach attaches ifc, once the interface is claimed for it (claims.go):
// an interface matched by a pattern that another instance, or another name
// of this one, counts is skipped; one named exactly is refused with a
// *claimError. A new attachment counts from zero, so its series start
// (again) at the moment of attachment.
func (r *registry) attach(ifc *iface) error {
	index := ifc.seen
	if index == 0 {
		var err error
		if index, err = r.links.index(ifc.name); err != nil {
			return err
		}
		if index == 0 {
			return &bpf.InterfaceNotFoundError{Name: ifc.name}
		}
	}
	if err := r.claimFor(ifc, index); err != nil {
		return r.refused(ifc, err)
	}
	// Taken before attaching: the program may count a packet before
	// attach returns, and every counted packet must fall inside the first
	// point's interval.
	at := pcommon.NewTimestampFromTime(r.now())
	a, err := r.src.attach(ifc.name)
	if err != nil {
		return err
	}
	if index = a.ifindex(); index != ifc.claimed {
		// The name moved to a newer interface since its index was
		// resolved: that one is counted, if it is free to claim.
		if err := r.claimFor(ifc, index); err != nil {
			if rerr := errors.Join(a.detach(), a.release()); rerr != nil {
				r.logger.Warn("releasing", zap.String("interface", ifc.name), zap.Error(rerr))
			}
			return r.refused(ifc, err)
		}
	}
	ifc.att, ifc.index, ifc.seen = a, index, index
	r.byIndex[ifc.index] = ifc
	r.setState(ifc, stateAttached, "", nil)
	if ifc.series != nil {
		ifc.series.reattached(at)
	} else {
		ifc.series = r.src.newSeries(at)
	}
	fields := []zap.Field{zap.String("interface", ifc.name), zap.Int("ifindex", ifc.index)}
	for _, h := range a.hooks() {
		fields = append(fields, zap.String(h.dir.String(), h.Hook.String()+" ("+h.Reason+")"))
	}
	r.logger.Info("counting packets", fields...)
	return nil
}

// retry attaches ifc after a failure or an appearance, and classifies what
// goes wrong: an interface that turns out not to exist is gone (and, if
// matched by a pattern, forgotten), a foreign program is reported as such.
func (r *registry) retry(ifc *iface) {
	err := r.attach(ifc)
	if err == nil {
		return
	}
	if errors.Is(err, bpf.ErrInterfaceNotFound) {
		r.lost(ifc)
		return
	}
	var ce *claimError
	if errors.As(err, &ce) {
		r.setState(ifc, stateFaulted, faultClaimed, fmt.Errorf("not counting %q: %w; it is counted here once the other lets it go",
			ifc.name, err))
		return
	}
	kind := faultAttach
	var fe *bpf.ForeignProgramError
	if errors.As(err, &fe) {
		kind = faultForeign
	}
	r.setState(ifc, stateFaulted, kind, fmt.Errorf("attaching to %q: %w", ifc.name, advise(err, r.hostInterfaces)))
}

// setState moves ifc to state, with the fault that explains it; it logs
// only changes of fault, as retries repeat the same fault at every
// collection.
func (r *registry) setState(ifc *iface, state ifaceState, kind string, err error) {
	if kind != "" && ifc.faultKind != kind {
		r.logger.Warn("interface is not counted", zap.String("interface", ifc.name), zap.Error(err))
	}
	ifc.state, ifc.fault, ifc.faultKind = state, err, kind
}

// lost handles an interface that does not exist: one matched by a pattern
// is forgotten, one named exactly is gone until it returns.
func (r *registry) lost(ifc *iface) {
	if !ifc.exact {
		if ifc.state == stateAttached || ifc.series != nil {
			r.logger.Info("interface is gone: its series end", zap.String("interface", ifc.name))
		}
		r.forget(ifc)
		return
	}
	r.unclaim(ifc)
	ifc.seen = 0
	r.setState(ifc, stateGone, faultGone, fmt.Errorf("interface %q is gone: it was deleted or moved to another network namespace; "+
		"counting resumes when it returns", ifc.name))
}

// finish ends ifc's attachment, and leaves its state to the caller. The
// programs are detached first, so that the counts read after are the last:
// they are emitted at once, ending the interval at the read, and come out
// with the next collection. If they cannot be read, that last interval is
// lost, never guessed.
func (r *registry) finish(ifc *iface) {
	if ifc.att == nil {
		return
	}
	if err := ifc.att.detach(); err != nil {
		r.logger.Warn("detaching", zap.String("interface", ifc.name), zap.Error(err))
	}
	if err := ifc.series.readFinal(ifc.att); err != nil {
		r.logger.Warn("the last counts of an interface could not be read: its last interval is not reported",
			zap.String("interface", ifc.name), zap.Error(err))
	} else {
		r.emit(ifc)
	}
	r.release(ifc)
}

// release frees ifc's attachment, whose last counts were read.
func (r *registry) release(ifc *iface) {
	if err := ifc.att.release(); err != nil {
		r.logger.Warn("releasing", zap.String("interface", ifc.name), zap.Error(err))
	}
	if r.byIndex[ifc.index] == ifc {
		delete(r.byIndex, ifc.index)
	}
	ifc.att, ifc.index = nil, 0
}

// emit turns the counts just read from ifc into points.
func (r *registry) emit(ifc *iface) {
	// Taken after the read, so that every packet the read counted falls
	// inside this point's interval.
	now := pcommon.NewTimestampFromTime(r.now())
	if restarted := ifc.series.emit(r.em, ifc.name, now); restarted > 0 {
		r.logger.Warn("counters went backwards; their series continue from the new values",
			zap.String("interface", ifc.name), zap.Int("series", restarted))
	}
}

// refused handles a claim of ifc refused: a pattern's interface is
// skipped, quietly, and err is returned for an exactly named one.
func (r *registry) refused(ifc *iface, err error) error {
	if ifc.exact {
		return err
	}
	if ifc.state != stateSkipped {
		r.logger.Debug("interface matches a pattern but is counted already: skipped", zap.String("interface", ifc.name),
			zap.Error(err))
	}
	r.setState(ifc, stateSkipped, "", nil)
	return nil
}

// linkAdded handles news of a link that exists now: new, renamed, or
// changed in any way (RTM_NEWLINK comes for every change).
func (r *registry) linkAdded(l links.Link) {
	names := l.Names()
	// Renamed away from the name we count it by: the name is gone.
	if ifc, ok := r.byIndex[l.Index]; ok && !slices.Contains(names, ifc.name) {
		r.finish(ifc)
		r.lost(ifc)
	}
	for _, name := range names {
		ifc, ok := r.ifaces[name]
		switch {
		case !ok && name == l.Name && r.match.matchesPattern(name):
			ifc = r.add(name, false)
		case !ok:
			continue // not ours; patterns match interface names only
		case ifc.state == stateAttached && ifc.index == l.Index:
			continue // one of the many changes of a counted link
		case ifc.state == stateAttached:
			// Another link under the name. News of the old one that comes
			// late, after a collection found the new one and attached to
			// it: the name's link now says which is current.
			if cur, err := r.links.index(name); err == nil && cur != l.Index {
				continue
			}
			r.finish(ifc)
			if !ifc.exact {
				r.forget(ifc)
				ifc = r.add(name, false)
			}
		case ifc.state == stateSkipped:
			ifc.seen = l.Index
			continue // tried again at every collection
		case ifc.state == stateGone:
			r.logger.Info("interface is back: counting again", zap.String("interface", name))
		}
		ifc.seen = l.Index
		r.retry(ifc)
	}
}

// linkDeleted handles a link that went: deleted, or moved to another
// network namespace, which deletes it from this one. A moved interface
// takes its programs along until they are detached here.
func (r *registry) linkDeleted(l links.Link) {
	if ifc, ok := r.byIndex[l.Index]; ok {
		r.finish(ifc)
		r.lost(ifc)
	}
	for _, name := range l.Names() {
		if ifc, ok := r.ifaces[name]; ok && ifc.state != stateAttached && ifc.state != stateGone {
			r.lost(ifc)
		}
	}
}

// prune brings the registry in line with a full listing, as far as what
// went is concerned: the interfaces it counts or wants that the listing no
// longer has, or has under another index, are gone. What the listing adds
// is applied link by link with linkAdded (watch.run), as attaching may take
// a while per interface.
func (r *registry) prune(ls []links.Link) {
	present := map[string]int{}
	for _, l := range ls {
		for _, n := range l.Names() {
			present[n] = l.Index
		}
	}
	for _, name := range slices.Clone(r.sortedNames()) {
		ifc := r.ifaces[name]
		index, ok := present[name]
		switch {
		case ifc.state == stateAttached && (!ok || index != ifc.index):
			r.finish(ifc)
			r.lost(ifc)
		case !ok && ifc.state != stateAttached && ifc.state != stateGone:
			r.lost(ifc)
		case ok && ifc.state != stateAttached:
			ifc.seen = index
		}
	}
}

// collect reads every attached interface and emits its points; then it
// tries again what is pending, faulted or skipped. The final collection,
// at shutdown, detaches every interface first, so that the counts it reads
// are the last, and tries nothing again. It returns the faults of exactly
// named interfaces, which are partial scrape errors, and how many points
// they cost.
func (r *registry) collect(final bool) (errs []error, failed int) {
	if final {
		for _, ifc := range r.ifaces {
			if ifc.att != nil {
				if err := ifc.att.detach(); err != nil {
					r.logger.Warn("detaching", zap.String("interface", ifc.name), zap.Error(err))
				}
			}
		}
	}
	collectErr := r.src.collect()
	for _, name := range slices.Clone(r.sortedNames()) {
		ifc, ok := r.ifaces[name]
		if !ok {
			continue // forgotten since: a re-created interface was
		}
		switch {
		case ifc.state == stateAttached && collectErr != nil:
			r.setState(ifc, stateAttached, faultRead, fmt.Errorf("reading the counters of %q: %w", ifc.name, collectErr))
		case ifc.state == stateAttached:
			r.collectOne(ifc, final)
		case final:
		case ifc.state == stateSkipped, ifc.state == statePending, ifc.state == stateFaulted:
			// Gone interfaces come back through link events, not by
			// being looked for; the others are tried again.
			r.retry(ifc)
		}
		if ifc.fault != nil && ifc.exact {
			errs = append(errs, ifc.fault)
			if ifc.series != nil {
				failed += ifc.series.activeSeries() * r.src.pointsPerSeries()
			}
		}
	}
	if collectErr == nil {
		r.src.emitOwn(r.em, func() pcommon.Timestamp { return pcommon.NewTimestampFromTime(r.now()) })
	}
	return errs, failed
}

// collectOne reads one attached interface. An interface whose programs
// stopped (deleted, or detached from outside) has its last counts read and
// emitted, and then the listing says which it was.
func (r *registry) collectOne(ifc *iface, final bool) {
	if err := ifc.series.read(ifc.att); err != nil {
		r.setState(ifc, stateAttached, faultRead, fmt.Errorf("reading the counters of %q: %w", ifc.name, err))
		return
	}
	if ifc.faultKind == faultRead {
		r.setState(ifc, stateAttached, "", nil)
	}
	if final || ifc.series.moved() {
		r.emit(ifc)
		return
	}
	attached, err := ifc.att.attached()
	if err != nil {
		r.setState(ifc, stateAttached, faultRead, fmt.Errorf("querying the programs of %q: %w", ifc.name, err))
	}
	if err != nil || attached {
		r.emit(ifc)
		return
	}
	old := ifc.index
	r.finish(ifc)
	index, lerr := r.links.index(ifc.name)
	switch {
	case lerr == nil && index == 0:
		r.lost(ifc)
	case lerr == nil && index != old:
		// Deleted and already created again: a new interface, not a
		// program detached from outside.
		r.lost(ifc)
		r.linkAdded(links.Link{Index: index, Name: ifc.name})
	default:
		r.setState(ifc, stateFaulted, faultDetached, fmt.Errorf("the programs counting %q were detached from outside the "+
			"collector (bpftool link detach; tc filter del or tc qdisc del on kernels before 6.6); it is attached again at the next collection, if nothing else took its place", ifc.name))
	}
}

// closeAll releases every attachment, after the final collection read
// their last counts.
func (r *registry) closeAll() {
	for _, ifc := range r.ifaces {
		if ifc.att != nil {
			r.release(ifc)
		}
	}
}

// hostInterfaces lists the interfaces that exist, for advice about one
// that does not.
func (r *registry) hostInterfaces() []string {
	ls, err := r.links.list()
	if err != nil {
		return nil
	}
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	return names
}
