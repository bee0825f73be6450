package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// datapath is the built-in counter's datapath, shared by all interfaces of
// a receiver: a *bpf.Datapath on Linux, whose interfaces are H
// (*bpf.Interface), and fakes in tests.
type datapath[H slotHandle] interface {
	// Open gives the interface named (or alternatively named) name a slot.
	Open(name string) (H, error)
	// Read reads every slot, in one batch per 128 slots.
	Read(s *bpf.Snapshot) error
	// ReadSlot reads one slot's counters now.
	ReadSlot(slot uint32) (bpf.Counts, error)
	Close() error
}

// slotHandle is one interface of a datapath, its slot and the programs
// attached to it: a *bpf.Interface on Linux.
type slotHandle interface {
	handle
	Slot() uint32
	Attach(dir bpf.Direction, mode bpf.Mode) (bpf.Placement, error)
	Release() error
}

// builtinSource is the built-in counter: xdp.packets and xdp.bytes, by
// direction and class.
type builtinSource[H slotHandle] struct {
	load   func() (datapath[H], error)
	dp     datapath[H]
	snap   bpf.Snapshot // what the last collect read
	mode   bpf.Mode
	dirs   []bpf.Direction
	em     *emitter
	logger *zap.Logger
	// describe tells what XDP does to a driver, for modes that attach it.
	describe func(name string) (bpf.Driver, error)
	// unattributed is slot 0, the packets that met no slot: reported
	// under an empty interface name, never lost silently.
	unattributed *builtinTap[H]
}

func newBuiltinSource[H slotHandle](load func() (datapath[H], error), mode bpf.Mode, dirs []bpf.Direction, em *emitter,
	logger *zap.Logger,
) *builtinSource[H] {
	return &builtinSource[H]{load: load, mode: mode, dirs: dirs, em: em, logger: logger}
}

// start loads the datapath. Slot 0 exists from the load on: its series
// start at a reading taken before the load, as an interface's do before its
// attach, so that every packet it ever counts falls inside its first
// point's interval (a zero start would make that interval span decades).
func (b *builtinSource[H]) start(now func() pcommon.Timestamp) (err error) {
	loaded := now()
	b.dp, err = b.load()
	if err != nil {
		return err
	}
	b.unattributed = b.newTap().(*builtinTap[H])
	b.unattributed.restart(loaded)
	return nil
}

func (b *builtinSource[H]) newTap() tap {
	t := &builtinTap[H]{b: b}
	pg, bg := b.em.packetGroups, b.em.byteGroups
	switch {
	case b.em.packetsOn && b.em.bytesOn && pg.equal(bg):
		t.trackers = []seriesTracker{{newCounterTracker(0, b.dirs, pg), true, true}}
	default:
		if b.em.packetsOn {
			t.trackers = append(t.trackers, seriesTracker{newCounterTracker(0, b.dirs, pg), true, false})
		}
		if b.em.bytesOn {
			t.trackers = append(t.trackers, seriesTracker{newCounterTracker(0, b.dirs, bg), false, true})
		}
		if len(t.trackers) == 0 { // both metrics disabled: nothing to emit
			t.trackers = []seriesTracker{{newCounterTracker(0, b.dirs, pg), false, false}}
		}
	}
	return t
}

func (b *builtinSource[H]) collect() error { return b.dp.Read(&b.snap) }

// emitOwn emits slot 0: packets of an interface that a program ran on
// without the slot index knowing it, which the order of attach and detach
// should never let happen.
func (b *builtinSource[H]) emitOwn(e *emitter, now func() pcommon.Timestamp) {
	if b.unattributed == nil {
		return
	}
	b.unattributed.totals = *b.snap.Unattributed()
	if b.unattributed.totals == (bpf.Counts{}) {
		return
	}
	if b.unattributed.activeSeries() == 0 {
		b.logger.Warn("packets met no slot of the datapath: they are reported under an empty network.interface.name")
	}
	b.unattributed.emit(e, owner{}, now())
}

func (b *builtinSource[H]) pointsPerSeries() int {
	n := 0
	if b.em.packetsOn {
		n++
	}
	if b.em.bytesOn {
		n++
	}
	return n
}

func (b *builtinSource[H]) close() error {
	if b.dp == nil {
		return nil
	}
	err := b.dp.Close()
	b.dp = nil
	return err
}

// builtinTap is one interface's slot of the datapath, every configured
// direction attached, and its series of xdp.packets and xdp.bytes. Both
// metrics share one tracker, unless the user gave them different
// attributes, and then their classes group differently.
type builtinTap[H slotHandle] struct {
	b        *builtinSource[H]
	ifc      slotHandle // while attached
	placed   []placement
	trackers []seriesTracker
	totals   bpf.Counts     // read buffer
	prev     bpf.Counts     // the read before, for moved
	points   []counterPoint // point buffer, reused by every emit
}

// seriesTracker is a tracker and the metrics it emits.
type seriesTracker struct {
	*counterTracker
	packets, bytes bool
}

// attach opens the interface and attaches every configured direction, or
// releases it again.
func (t *builtinTap[H]) attach(name string, at pcommon.Timestamp) (int, error) {
	b := t.b
	ifc, err := b.dp.Open(name)
	if err != nil {
		return 0, err
	}
	if b.mode == bpf.ModeNative || b.mode == bpf.ModeGeneric {
		xdpNotice(b.logger, b.describe, name, b.mode)
	}
	placed := make([]placement, 0, len(b.dirs))
	for _, dir := range b.dirs {
		p, err := ifc.Attach(dir, b.mode)
		if err != nil {
			return 0, errors.Join(err, ifc.Release())
		}
		placed = append(placed, placement{dir: dir, Placement: p})
	}
	t.ifc, t.placed = ifc, placed
	t.restart(at)
	return ifc.Ifindex(), nil
}

// restart counts from zero at at: a new slot's counters start there.
func (t *builtinTap[H]) restart(at pcommon.Timestamp) {
	t.totals = bpf.Counts{}
	for _, tr := range t.trackers {
		tr.reattached(at)
	}
}

func (t *builtinTap[H]) placements() []placement { return t.placed }
func (t *builtinTap[H]) attached() (bool, error) { return t.ifc.Attached() }
func (t *builtinTap[H]) detach() error           { return t.ifc.Detach() }
func (t *builtinTap[H]) release() error          { return t.ifc.Release() }
func (t *builtinTap[H]) activeSeries() int       { return t.trackers[0].activeSeries() }

// read takes the slot's counts from the snapshot of the last collect.
func (t *builtinTap[H]) read() error {
	t.take(*t.b.snap.Slot(t.ifc.Slot()))
	return nil
}

// take makes c the counts read last, and keeps the ones before for moved.
func (t *builtinTap[H]) take(c bpf.Counts) { t.prev, t.totals = t.totals, c }

// moved: counters only grow, so a direction counted something exactly
// when its counters differ from the read before.
func (t *builtinTap[H]) moved() bool {
	for _, d := range t.b.dirs {
		if t.totals.Dir[d] == t.prev.Dir[d] {
			return false
		}
	}
	return true
}

func (t *builtinTap[H]) emit(e *emitter, o owner, now pcommon.Timestamp) (restarted int) {
	for _, tr := range t.trackers {
		var r int
		t.points, r = tr.advance(&t.totals, now, t.points[:0])
		restarted = max(restarted, r)
		e.counters(o, now, t.points, tr.groups, tr.packets, tr.bytes)
	}
	return restarted
}

// renew ends every series here: those that count from now on are new.
func (t *builtinTap[H]) renew() {
	for _, tr := range t.trackers {
		tr.renew()
	}
}

// end reads the slot itself, rather than the last collect's snapshot: the
// programs were detached after it, or the series split since.
func (t *builtinTap[H]) end(o owner, now func() pcommon.Timestamp) (lastPoints, int, error) {
	c, err := t.b.dp.ReadSlot(t.ifc.Slot())
	if err != nil {
		return nil, 0, err
	}
	t.take(c)
	at, restarted := now(), 0
	points := make([][]counterPoint, len(t.trackers))
	for i, tr := range t.trackers {
		var r int
		points[i], r = tr.advance(&t.totals, at, nil)
		restarted = max(restarted, r)
	}
	trackers := t.trackers
	return func(e *emitter) {
		for i, tr := range trackers {
			e.counters(o, at, points[i], tr.groups, tr.packets, tr.bytes)
		}
	}, restarted, nil
}
