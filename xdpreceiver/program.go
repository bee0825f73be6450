package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// programObject is a user's program as read at start (bpf.CustomObject):
// every attachment loads a fresh copy of it, with maps of its own, and a
// file changed on disk later never changes what is attached.
type programObject interface {
	attach(name string, mode bpf.Mode) (programAttachment, error)
}

// programAttachment is a user's program attached to one interface
// (bpf.CustomAttachment).
type programAttachment interface {
	ifindex() int
	mode() bpf.Mode
	// read replaces dst with every key of the counter map and its value.
	read(dst map[uint32]uint64) error
	attached() (bool, error)
	detach() error
	release() error
}

// programSource is the user's program: xdp.program.count by key of its
// counter map. Every attachment loads the object afresh, so every
// interface has maps of its own.
type programSource struct {
	open  func() (programObject, error)
	obj   programObject
	mode  bpf.Mode
	names map[uint32]string // configured names of keys
	em    *emitter
	// describe tells what XDP does to a driver, logged before attaching.
	describe func(name string) (bpf.Driver, error)
	logger   *zap.Logger
}

// start reads and checks the object; the program counts nothing until an
// attachment loads it, so the clock is not read.
func (p *programSource) start(func() pcommon.Timestamp) (err error) {
	p.obj, err = p.open()
	return err
}

func (p *programSource) attach(name string) (attachment, error) {
	xdpNotice(p.logger, p.describe, name, p.mode)
	a, err := p.obj.attach(name, p.mode)
	if err != nil {
		return nil, err
	}
	return &programAttached{a}, nil
}

// collect has nothing to do: each attachment reads its own map.
func (*programSource) collect() error { return nil }

func (p *programSource) newSeries(attached pcommon.Timestamp) series {
	return &programSeries{deltas: newKeyedTracker(attached), names: p.names, cur: map[uint32]uint64{}}
}

func (*programSource) emitOwn(*emitter, func() pcommon.Timestamp) {}

func (p *programSource) pointsPerSeries() int {
	if p.em.programOn {
		return 1
	}
	return 0
}

func (*programSource) close() error { return nil }

// programAttached adapts a programAttachment: XDP, receive only.
type programAttached struct{ programAttachment }

func (a *programAttached) hooks() []hookInfo {
	h := bpf.HookXDPNative
	if a.mode() == bpf.ModeGeneric {
		h = bpf.HookXDPGeneric
	}
	return []hookInfo{{dir: bpf.Receive, Attachment: bpf.Attachment{Hook: h, Reason: "the user's XDP program"}}}
}

type programSeries struct {
	deltas *keyedTracker
	names  map[uint32]string
	cur    map[uint32]uint64 // read buffer
	points []keyedPoint      // point buffer, reused by every emit
}

func (s *programSeries) read(a attachment) error {
	return a.(*programAttached).read(s.cur)
}

// readFinal reads the map as read does: each attachment has its own, which
// its program wrote its last into before detach returned.
func (s *programSeries) readFinal(a attachment) error { return s.read(a) }

func (s *programSeries) reattached(at pcommon.Timestamp) { s.deltas.reattached(at) }

func (s *programSeries) activeSeries() int { return len(s.deltas.keys) }

// moved is false: which of a user's counters move says nothing certain
// about the program, so its attachment is checked at every collection.
func (s *programSeries) moved() bool { return false }

func (s *programSeries) emit(e *emitter, iface string, now pcommon.Timestamp) (restarted int) {
	s.points, restarted = s.deltas.advance(s.cur, now, s.points[:0])
	for _, p := range s.points {
		e.program(p.start, now, p.value, iface, s.keyName(p.key))
	}
	return restarted
}

// keyName is the xdp.program.key of key: its configured name, or its
// number in decimal.
func (s *programSeries) keyName(key uint32) string {
	if name, ok := s.names[key]; ok {
		return name
	}
	return strconv.FormatUint(uint64(key), 10)
}
