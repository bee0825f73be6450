package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"
)

// state is where an interface that the receiver means to count stands.
// Every interface is in exactly one.
type state int

const (
	// statePending: wanted, not attached yet; attached as soon as it can be.
	statePending state = iota
	// stateAttached: counting.
	stateAttached
	// stateGone: named exactly, and no interface has the name now; it is
	// attached again when one appears.
	stateGone
	// stateSkipped: matched by a pattern, and another receiver instance
	// counts it (or this one, under another name); tried again at every
	// collection.
	stateSkipped
	// stateFaulted: an attach or a read failed, or the program was
	// detached from outside; tried again at every collection.
	stateFaulted
	// stateForgotten: matched by a pattern, and gone: no longer wanted. If
	// it comes back, it is a new interface with new series.
	stateForgotten
)

var stateNames = [...]string{statePending: "pending", stateAttached: "attached", stateGone: "gone", stateSkipped: "skipped",
	stateFaulted: "faulted", stateForgotten: "forgotten"}

func (s state) String() string { return stateNames[s] }

// fault is the kind of what keeps an interface from being counted, or
// counted in full. The status changes when the set of (interface, fault)
// does, not when an error's text does (an error that lists the host's
// interfaces changes all the time).
type fault int

const (
	faultNone fault = iota
	faultGone
	faultAttach
	faultClaimed
	faultForeign
	faultDetached
	faultRead
)

var faultNames = [...]string{faultNone: "", faultGone: "gone", faultAttach: "attach", faultClaimed: "claimed",
	faultForeign: "foreign", faultDetached: "detached", faultRead: "read"}

func (f fault) String() string { return faultNames[f] }

// event is what happens to an interface: each moves it, from some states,
// to one state, with one fault or none (moves).
type event int

const (
	// evAttached: every direction was attached.
	evAttached event = iota
	// evSkipped: a pattern's interface that another instance, or another
	// name of this one, counts.
	evSkipped
	// evClaimed: an exactly named interface that another instance, or
	// another name of this one, counts.
	evClaimed
	// evAttachFailed: attaching failed.
	evAttachFailed
	// evForeign: attaching failed, as another program holds the hook.
	evForeign
	// evGone: named exactly, and no interface has the name.
	evGone
	// evForgotten: matched by a pattern, and its interface went.
	evForgotten
	// evRead: a read succeeded.
	evRead
	// evReadFailed: a read failed.
	evReadFailed
	// evDetached: the programs were detached from outside.
	evDetached
	// evReplaced: another interface took the name of the one counted.
	evReplaced
)

var eventNames = [...]string{evAttached: "attached", evSkipped: "skipped", evClaimed: "claimed", evAttachFailed: "attach failed",
	evForeign: "foreign program", evGone: "gone", evForgotten: "forgotten", evRead: "read", evReadFailed: "read failed",
	evDetached: "detached from outside", evReplaced: "replaced"}

func (e event) String() string { return eventNames[e] }

// A move is where an event takes an interface, and from where.
type move struct {
	from  []state
	to    state
	fault fault
}

var (
	// waiting are the states an interface is attached from.
	waiting = []state{statePending, stateGone, stateSkipped, stateFaulted}
	// exactStates are those of an exactly named interface, which is never
	// skipped; patternStates are those of a pattern's, never gone.
	exactStates   = []state{statePending, stateAttached, stateGone, stateFaulted}
	patternStates = []state{statePending, stateAttached, stateSkipped, stateFaulted}
	only          = func(s state) []state { return []state{s} }
)

// moves is the lifecycle, event by event. An interface is detached, its
// last counts read, and released before it leaves stateAttached (end):
// the states say what is wanted, and what is attached follows.
var moves = [...]move{
	evAttached:     {from: waiting, to: stateAttached},
	evSkipped:      {from: []state{statePending, stateSkipped, stateFaulted}, to: stateSkipped},
	evClaimed:      {from: []state{statePending, stateGone, stateFaulted}, to: stateFaulted, fault: faultClaimed},
	evAttachFailed: {from: waiting, to: stateFaulted, fault: faultAttach},
	evForeign:      {from: waiting, to: stateFaulted, fault: faultForeign},
	evGone:         {from: exactStates, to: stateGone, fault: faultGone},
	evForgotten:    {from: patternStates, to: stateForgotten},
	evRead:         {from: only(stateAttached), to: stateAttached},
	evReadFailed:   {from: only(stateAttached), to: stateAttached, fault: faultRead},
	evDetached:     {from: only(stateAttached), to: stateFaulted, fault: faultDetached},
	evReplaced:     {from: only(stateAttached), to: statePending},
}

// next is the state and fault that e leaves an interface in, which was in
// from; ok is false for an event that cannot happen there.
func next(from state, e event) (to state, f fault, ok bool) {
	m := moves[e]
	for _, s := range m.from {
		if s == from {
			return m.to, m.fault, true
		}
	}
	return from, faultNone, false
}

// iface is one interface the receiver means to count.
type iface struct {
	name  string
	exact bool // named in the config, rather than matched by a pattern
	state state
	// fault and err are why the interface is gone or faulted, or read in
	// part, for the status and the scrape's errors.
	fault fault
	err   error
	// tap counts the interface, from its first attachment on: an interface
	// attached again goes on with its series rather than making new ones.
	tap tap
	// held is set while the tap holds a handle, attached or detached and
	// not yet released; index is the interface's index it counts.
	held  bool
	index int
	// seen is the interface's index as the last link event, listing or
	// attach found it, or 0 when unknown; claimed is the index of the
	// interface claimed for it (claims.go), or 0.
	seen, claimed int
	// pod is the IP of the pod that owns the tap's series, or "" when the
	// node does (owner).
	pod string
}

// owner is whose ifc's series are.
func (ifc *iface) owner() owner { return owner{iface: ifc.name, pod: ifc.pod} }

// lifecycle moves counted interfaces through their states, and attaches,
// reads, detaches and releases their taps. It is not safe for concurrent
// use: xdpScraper calls it under its lock.
type lifecycle struct {
	src    source
	em     *emitter
	now    func() time.Time
	logger *zap.Logger
	// byIndex are the interfaces whose taps hold a handle, by the index
	// they count.
	byIndex map[int]*iface
	// ended are the last points of attachments, and of series split by a
	// change of pod, that ended since the last collection, in the order
	// they ended, which the next one emits.
	ended []lastPoints
	// pods are the pod IPs of the interfaces that belong to a pod, by
	// index, from pod events (pods.go), whether counted or not.
	pods map[int]string
}

func newLifecycle(src source, em *emitter, now func() time.Time, logger *zap.Logger) *lifecycle {
	return &lifecycle{src: src, em: em, now: now, logger: logger, byIndex: map[int]*iface{}, pods: map[int]string{}}
}

// move moves ifc as e says, err telling why; every change of state happens
// here. It logs a new fault only: retries repeat the same one at every
// collection.
func (l *lifecycle) move(ifc *iface, e event, err error) {
	to, f, ok := next(ifc.state, e)
	if !ok {
		// A move the table does not have is a bug of the receiver's: it
		// panics in development builds and tests, and in production leaves
		// the interface where it is rather than take down the collector.
		l.logger.DPanic(fmt.Sprintf("xdp receiver: interface %q cannot be %s in state %s", ifc.name, e, ifc.state))
		return
	}
	if f != faultNone && f != ifc.fault {
		l.logger.Warn("interface is not counted", zap.String("interface", ifc.name), zap.Error(err))
	}
	ifc.state, ifc.fault, ifc.err = to, f, err
}

// attach attaches ifc's tap, and keeps it once claim accepts the index of
// the interface attached: the name may have moved to a newer interface
// since it was claimed. A new attachment counts from zero, so its series
// start (again) at the moment of attachment.
func (l *lifecycle) attach(ifc *iface, claim func(index int) error) error {
	// Taken before attaching: the program may count a packet before
	// attach returns, and every counted packet must fall inside the first
	// point's interval.
	at := pcommon.NewTimestampFromTime(l.now())
	t := ifc.tap
	if t == nil {
		t = l.src.newTap()
	}
	index, err := t.attach(ifc.name, at)
	if err != nil {
		return err
	}
	if err := claim(index); err != nil {
		if rerr := errors.Join(t.detach(), t.release()); rerr != nil {
			l.logger.Warn("releasing", zap.String("interface", ifc.name), zap.Error(rerr))
		}
		return err
	}
	if pod := l.pods[index]; pod != ifc.pod {
		// The series went on from an attachment of another owner's, or
		// the node's: they end there, and this attachment's are new.
		t.renew()
		ifc.pod = pod
	}
	ifc.tap, ifc.held, ifc.index = t, true, index
	l.byIndex[index] = ifc
	l.move(ifc, evAttached, nil)
	fields := []zap.Field{zap.String("interface", ifc.name), zap.Int("ifindex", index)}
	for _, p := range t.placements() {
		fields = append(fields, zap.String(p.dir.String(), p.Hook.String()+" ("+p.Reason+")"))
	}
	l.logger.Info("counting packets", fields...)
	return nil
}

// read reads an attached interface, as the source's collect found it, and
// emits its points; the final collection's taps were detached before. It
// reports whether the programs stopped (deleted, or detached from
// outside): then the caller ends the attachment.
func (l *lifecycle) read(ifc *iface, final bool) (stopped bool) {
	if err := ifc.tap.read(); err != nil {
		l.move(ifc, evReadFailed, fmt.Errorf("reading the counters of %q: %w", ifc.name, err))
		return false
	}
	if ifc.fault == faultRead {
		l.move(ifc, evRead, nil)
	}
	if final || ifc.tap.moved() {
		l.emit(ifc)
		return false
	}
	attached, err := ifc.tap.attached()
	if err != nil {
		l.move(ifc, evReadFailed, fmt.Errorf("querying the programs of %q: %w", ifc.name, err))
	}
	if err != nil || attached {
		l.emit(ifc)
		return false
	}
	return true
}

// emit turns the counts just read from ifc into points.
func (l *lifecycle) emit(ifc *iface) {
	// Taken after the read, so that every packet the read counted falls
	// inside this point's interval.
	now := pcommon.NewTimestampFromTime(l.now())
	l.restarted(ifc, ifc.tap.emit(l.em, ifc.owner(), now))
}

func (l *lifecycle) restarted(ifc *iface, n int) {
	if n > 0 {
		l.logger.Warn("counters went backwards; their series continue from the new values",
			zap.String("interface", ifc.name), zap.Int("series", n))
	}
}

// end ends ifc's attachment, and leaves its state to the caller. The
// programs are detached first, so that the counts read after are the last:
// their points end at the read, and the next collection emits them. If
// they cannot be read, that last interval is lost, never guessed.
func (l *lifecycle) end(ifc *iface) {
	if !ifc.held {
		return
	}
	if err := ifc.tap.detach(); err != nil {
		l.logger.Warn("detaching", zap.String("interface", ifc.name), zap.Error(err))
	}
	if err := l.last(ifc); err != nil {
		l.logger.Warn("the last counts of an interface could not be read: its last interval is not reported",
			zap.String("interface", ifc.name), zap.Error(err))
	}
	l.release(ifc)
}

// last reads ifc's counts now, the last of its series, and leaves their
// points to the next collection.
func (l *lifecycle) last(ifc *iface) error {
	last, restarted, err := ifc.tap.end(ifc.owner(), func() pcommon.Timestamp { return pcommon.NewTimestampFromTime(l.now()) })
	if err != nil {
		return err
	}
	l.restarted(ifc, restarted)
	l.ended = append(l.ended, last)
	return nil
}

// belongs applies a pod event: the interface with index belongs to the pod
// whose IP pod is now, or to none for "". The interface's state does not
// change, its series do, as a series' resource never changes: a counted
// interface's series end at a read made now, whose points the next
// collection emits under the old owner, and the new owner's start exactly
// there, so that nothing is lost or counted twice. An interface that is not
// attached gets new series at its next attach.
func (l *lifecycle) belongs(index int, pod string) {
	if pod == "" {
		delete(l.pods, index)
	} else {
		l.pods[index] = pod
	}
	ifc := l.byIndex[index]
	if ifc == nil || ifc.pod == pod {
		return
	}
	l.logger.Debug("interface changed pods", zap.String("interface", ifc.name), zap.String("from", ifc.pod), zap.String("to", pod))
	if err := l.last(ifc); err != nil {
		// The new series start at the last read then: what was counted
		// since goes to the new owner, rather than being lost.
		l.logger.Warn("the counts of an interface could not be read when its pod changed: "+
			"what it counted since the last collection is reported as the new pod's",
			zap.String("interface", ifc.name), zap.Error(err))
	}
	ifc.tap.renew()
	ifc.pod = pod
}

// release frees ifc's handle, whose last counts were read.
func (l *lifecycle) release(ifc *iface) {
	if err := ifc.tap.release(); err != nil {
		l.logger.Warn("releasing", zap.String("interface", ifc.name), zap.Error(err))
	}
	if l.byIndex[ifc.index] == ifc {
		delete(l.byIndex, ifc.index)
	}
	ifc.held, ifc.index = false, 0
}

// emitEnded emits the last points of the attachments that ended since the
// last call, in the order they ended.
func (l *lifecycle) emitEnded() {
	for _, last := range l.ended {
		last(l.em)
	}
	clear(l.ended)
	l.ended = l.ended[:0]
}

// detachAll detaches every interface of ifcs, before the final collection
// reads their last counts.
func (l *lifecycle) detachAll(ifcs map[string]*iface) {
	for _, ifc := range ifcs {
		if !ifc.held {
			continue
		}
		if err := ifc.tap.detach(); err != nil {
			l.logger.Warn("detaching", zap.String("interface", ifc.name), zap.Error(err))
		}
	}
}

// releaseAll releases the handle of every interface of ifcs, after the
// final collection read their last counts, and drops the last points
// nobody will emit.
func (l *lifecycle) releaseAll(ifcs map[string]*iface) {
	for _, ifc := range ifcs {
		if ifc.held {
			l.release(ifc)
		}
	}
	l.ended = nil
}
