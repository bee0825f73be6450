package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// programObject is a user's program as read at start: a
// *bpf.CustomObject on Linux, whose attachments are P
// (*bpf.CustomAttachment). Every attachment loads a fresh copy of it, with
// maps of its own, and a file changed on disk later never changes what is
// attached.
type programObject[P programHandle] interface {
	Attach(name string, mode bpf.Mode) (P, error)
}

// programHandle is a user's program attached to one interface: a
// *bpf.CustomAttachment on Linux.
type programHandle interface {
	handle
	Mode() bpf.Mode
	// Read replaces dst with every key of the counter map and its value.
	Read(dst map[uint32]uint64) error
	Close() error
}

// programSource is the user's program: xdp.program.count by key of its
// counter map. Every attachment loads the object afresh, so every
// interface has maps of its own.
type programSource[P programHandle] struct {
	open  func() (programObject[P], error)
	obj   programObject[P]
	mode  bpf.Mode
	names map[uint32]string // configured names of keys
	em    *emitter
	// describe tells what XDP does to a driver, logged before attaching.
	describe func(name string) (bpf.Driver, error)
	logger   *zap.Logger
}

// start reads and checks the object; the program counts nothing until an
// attachment loads it, so the clock is not read.
func (p *programSource[P]) start(func() pcommon.Timestamp) (err error) {
	p.obj, err = p.open()
	return err
}

func (p *programSource[P]) newTap() tap {
	return &programTap[P]{p: p, deltas: newKeyedTracker(0), cur: map[uint32]uint64{}}
}

// collect has nothing to do: each tap reads its own map.
func (*programSource[P]) collect() error { return nil }

func (*programSource[P]) emitOwn(*emitter, func() pcommon.Timestamp) {}

func (p *programSource[P]) pointsPerSeries() int {
	if p.em.programOn {
		return 1
	}
	return 0
}

func (*programSource[P]) close() error { return nil }

// programTap is a user's program attached to one interface, at XDP,
// receive only, and its series of xdp.program.count, a series per key.
type programTap[P programHandle] struct {
	p      *programSource[P]
	h      programHandle // while attached
	deltas *keyedTracker
	cur    map[uint32]uint64 // read buffer
	points []keyedPoint      // point buffer, reused by every emit
}

func (t *programTap[P]) attach(name string, at pcommon.Timestamp) (int, error) {
	xdpNotice(t.p.logger, t.p.describe, name, t.p.mode)
	h, err := t.p.obj.Attach(name, t.p.mode)
	if err != nil {
		return 0, err
	}
	t.h = h
	t.deltas.reattached(at)
	return h.Ifindex(), nil
}

func (t *programTap[P]) placements() []placement {
	h := bpf.HookXDPNative
	if t.h.Mode() == bpf.ModeGeneric {
		h = bpf.HookXDPGeneric
	}
	return []placement{{dir: bpf.Receive, Placement: bpf.Placement{Hook: h, Reason: "the user's XDP program"}}}
}

func (t *programTap[P]) attached() (bool, error) { return t.h.Attached() }
func (t *programTap[P]) read() error             { return t.h.Read(t.cur) }
func (t *programTap[P]) detach() error           { return t.h.Detach() }
func (t *programTap[P]) release() error          { return t.h.Close() }
func (t *programTap[P]) activeSeries() int       { return len(t.deltas.keys) }

// moved is false: which of a user's counters move says nothing certain
// about the program, so its attachment is checked at every collection.
func (*programTap[P]) moved() bool { return false }

func (t *programTap[P]) emit(e *emitter, o owner, now pcommon.Timestamp) (restarted int) {
	t.points, restarted = t.deltas.advance(t.cur, now, t.points[:0])
	e.programs(o, now, t.points, t.p.names)
	return restarted
}

// end reads the map as read does: each attachment has its own, which its
// program wrote its last into before detach returned.
// renew ends every series here: those that count from now on are new.
func (t *programTap[P]) renew() { t.deltas.renew() }

func (t *programTap[P]) end(o owner, now func() pcommon.Timestamp) (lastPoints, int, error) {
	if err := t.read(); err != nil {
		return nil, 0, err
	}
	at := now()
	points, restarted := t.deltas.advance(t.cur, at, nil)
	names := t.p.names
	return func(e *emitter) { e.programs(o, at, points, names) }, restarted, nil
}
