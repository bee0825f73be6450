package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// datapath is the built-in counter's datapath, shared by all interfaces of
// a receiver: package bpf's on Linux, fakes in tests.
type datapath interface {
	// open gives the interface named (or alternatively named) name a slot.
	open(name string) (datapathInterface, error)
	// read reads every slot, in one batch per 128 slots.
	read() error
	// counts are a slot's counters as the last read found them.
	counts(slot uint32) *bpf.Counts
	// readSlot reads one slot's counters now.
	readSlot(slot uint32) (bpf.Counts, error)
	close() error
}

// datapathInterface is one interface in a datapath (bpf.Interface).
type datapathInterface interface {
	ifindex() int
	slot() uint32
	attach(dir bpf.Direction, mode bpf.Mode) (bpf.Attachment, error)
	attached() (bool, error)
	detach() error
	release() error
}

// builtinSource is the built-in counter: xdp.packets and xdp.bytes, by
// direction and class.
type builtinSource struct {
	load   func() (datapath, error)
	dp     datapath
	mode   bpf.Mode
	dirs   []bpf.Direction
	em     *emitter
	logger *zap.Logger
	// describe tells what XDP does to a driver, for modes that attach it.
	describe func(name string) (bpf.Driver, error)
	// unattributed tracks slot 0, the packets that met no slot: reported
	// under an empty interface name, never lost silently.
	unattributed *builtinSeries
}

func newBuiltinSource(load func() (datapath, error), mode bpf.Mode, dirs []bpf.Direction, em *emitter, logger *zap.Logger) *builtinSource {
	return &builtinSource{load: load, mode: mode, dirs: dirs, em: em, logger: logger}
}

// start loads the datapath. Slot 0 exists from the load on: its series
// start at a reading taken before the load, as an interface's do before its
// attach, so that every packet it ever counts falls inside its first
// point's interval (a zero start would make that interval span decades).
func (b *builtinSource) start(now func() pcommon.Timestamp) (err error) {
	loaded := now()
	b.dp, err = b.load()
	if err != nil {
		return err
	}
	b.unattributed = b.newSeries(loaded).(*builtinSeries)
	return nil
}

// attach attaches every configured direction of the interface, or none.
func (b *builtinSource) attach(name string) (attachment, error) {
	ifc, err := b.dp.open(name)
	if err != nil {
		return nil, err
	}
	if b.mode == bpf.ModeNative || b.mode == bpf.ModeGeneric {
		xdpNotice(b.logger, b.describe, name, b.mode)
	}
	a := &builtinAttachment{ifc: ifc}
	for _, dir := range b.dirs {
		h, err := ifc.attach(dir, b.mode)
		if err != nil {
			return nil, errors.Join(err, ifc.release())
		}
		a.hookList = append(a.hookList, hookInfo{dir: dir, Attachment: h})
	}
	return a, nil
}

func (b *builtinSource) collect() error { return b.dp.read() }

func (b *builtinSource) newSeries(attached pcommon.Timestamp) series {
	s := &builtinSeries{b: b}
	pg, bg := b.em.packetGroups, b.em.byteGroups
	switch {
	case b.em.packetsOn && b.em.bytesOn && pg.equal(bg):
		s.trackers = []seriesTracker{{newCounterTracker(attached, b.dirs, pg), true, true}}
	default:
		if b.em.packetsOn {
			s.trackers = append(s.trackers, seriesTracker{newCounterTracker(attached, b.dirs, pg), true, false})
		}
		if b.em.bytesOn {
			s.trackers = append(s.trackers, seriesTracker{newCounterTracker(attached, b.dirs, bg), false, true})
		}
		if len(s.trackers) == 0 { // both metrics disabled: nothing to emit
			s.trackers = []seriesTracker{{newCounterTracker(attached, b.dirs, pg), false, false}}
		}
	}
	return s
}

// emitOwn emits slot 0: packets of an interface that a program ran on
// without the slot index knowing it, which the order of attach and detach
// should never let happen.
func (b *builtinSource) emitOwn(e *emitter, now func() pcommon.Timestamp) {
	if b.unattributed == nil {
		return
	}
	b.unattributed.totals = *b.dp.counts(0)
	if b.unattributed.totals == (bpf.Counts{}) {
		return
	}
	if b.unattributed.activeSeries() == 0 {
		b.logger.Warn("packets met no slot of the datapath: they are reported under an empty network.interface.name")
	}
	b.unattributed.emit(e, "", now())
}

func (b *builtinSource) pointsPerSeries() int {
	n := 0
	if b.em.packetsOn {
		n++
	}
	if b.em.bytesOn {
		n++
	}
	return n
}

func (b *builtinSource) close() error {
	if b.dp == nil {
		return nil
	}
	err := b.dp.close()
	b.dp = nil
	return err
}

// builtinAttachment is an interface of the datapath, every configured
// direction attached.
type builtinAttachment struct {
	ifc      datapathInterface
	hookList []hookInfo
}

func (a *builtinAttachment) ifindex() int            { return a.ifc.ifindex() }
func (a *builtinAttachment) hooks() []hookInfo       { return a.hookList }
func (a *builtinAttachment) attached() (bool, error) { return a.ifc.attached() }
func (a *builtinAttachment) detach() error           { return a.ifc.detach() }
func (a *builtinAttachment) release() error          { return a.ifc.release() }

// builtinSeries is one interface's series of xdp.packets and xdp.bytes.
// Both metrics share one tracker, unless the user gave them different
// attributes, and then their classes group differently.
type builtinSeries struct {
	b        *builtinSource
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

func (s *builtinSeries) read(a attachment) error {
	s.prev = s.totals
	s.totals = *s.b.dp.counts(a.(*builtinAttachment).ifc.slot())
	return nil
}

func (s *builtinSeries) readFinal(a attachment) (err error) {
	s.prev = s.totals
	s.totals, err = s.b.dp.readSlot(a.(*builtinAttachment).ifc.slot())
	return err
}

func (s *builtinSeries) reattached(at pcommon.Timestamp) {
	s.totals = bpf.Counts{} // a new slot counts from zero
	for _, t := range s.trackers {
		t.reattached(at)
	}
}

// moved: counters only grow, so a direction counted something exactly
// when its counters differ from the read before.
func (s *builtinSeries) moved() bool {
	for _, d := range s.b.dirs {
		if s.totals.Dir[d] == s.prev.Dir[d] {
			return false
		}
	}
	return true
}

func (s *builtinSeries) activeSeries() int { return s.trackers[0].activeSeries() }

func (s *builtinSeries) emit(e *emitter, iface string, now pcommon.Timestamp) (restarted int) {
	for _, t := range s.trackers {
		var r int
		s.points, r = t.advance(&s.totals, now, s.points[:0])
		restarted = max(restarted, r)
		for _, p := range s.points {
			dir := directionAttrs[p.dir]
			a := t.groups.attrs[p.group]
			if t.packets {
				e.counter(e.packets, p.start, now, p.packets, iface, dir, a)
			}
			if t.bytes {
				e.counter(e.bytes, p.start, now, p.bytes, iface, dir, a)
			}
		}
	}
	return restarted
}
