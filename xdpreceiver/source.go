//go:build linux

package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// source is what a receiver instance counts with: the built-in counter, or
// the user's program. The scraper attaches, reads, emits and detaches
// through it, and so treats both alike: patterns, interfaces that come and
// go, faults, claims and status know nothing of what is counted.
type source interface {
	// prepare reads and checks, once and before anything is attached, what
	// can be checked without attaching.
	prepare() error
	// attach attaches a counter of this source to the interface named iface.
	attach(iface string, mode bpf.Mode) (reader, error)
	// newSeries returns the series of one interface, whose counters count
	// from zero since attached.
	newSeries(attached pcommon.Timestamp) series
	// metrics is how many points each series emits per collection: the
	// points that a failed read loses.
	metrics() int
}

// series turns one interface's counts into delta points. It outlives the
// interface's attachments: a new attachment counts from zero again, and the
// series that were active go on from it.
type series interface {
	// read reads r, an attachment of the series' source, into the series'
	// buffer. Its errors are the reader's: errDetached comes with valid
	// counts.
	read(r reader) error
	// emit records into mb, at now, the point of every active series from
	// the last read, and returns how many series went backwards and were
	// restarted.
	emit(mb *metadata.MetricsBuilder, iface string, now pcommon.Timestamp) (restarted int)
	// reattached restarts the counts from zero for a new attachment.
	reattached(at pcommon.Timestamp)
	// activeSeries is the number of series emit emits every interval.
	activeSeries() int
}

// newSource returns the source that cfg asks for, attached with k.
func newSource(cfg *Config, k kernel) source {
	if p := cfg.Program.Get(); p != nil {
		return &programSource{k: k, spec: p.spec(), names: p.keyNames(), enabled: cfg.Metrics.XdpProgramCount.Enabled}
	}
	return &builtinSource{k: k, cfg: cfg}
}

// builtinSource is the built-in counter: xdp.packets and xdp.bytes by class.
type builtinSource struct {
	k   kernel
	cfg *Config
}

func (*builtinSource) prepare() error { return nil }

func (b *builtinSource) attach(iface string, mode bpf.Mode) (reader, error) {
	r, err := b.k.attach(iface, mode)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return r, nil
}

func (b *builtinSource) newSeries(attached pcommon.Timestamp) series {
	return &builtinSeries{deltas: newDeltaTracker(attached, !aggregatesClasses(b.cfg)), points: make([]delta, 0, bpf.NumClasses)}
}

func (b *builtinSource) metrics() int {
	n := 0
	if b.cfg.Metrics.XdpPackets.Enabled {
		n++
	}
	if b.cfg.Metrics.XdpBytes.Enabled {
		n++
	}
	return n
}

type builtinSeries struct {
	deltas deltaTracker
	totals bpf.Totals // read buffer
	points []delta    // delta buffer, reused by every emit
}

func (b *builtinSeries) read(r reader) error { return r.(counterReader).Read(&b.totals) }

func (b *builtinSeries) reattached(at pcommon.Timestamp) { b.deltas.reattached(at) }

func (b *builtinSeries) activeSeries() int { return b.deltas.activeSeries() }

// emit hands the points to the metrics builder. The builder stamps every
// point with its own start time, which Reset(WithStartTime) sets; setting
// it only when it changes keeps the cost to one or two resets per interface
// (its series' previous read, and its attachment for series that appear).
// This keeps one resource for all interfaces, where emitting per interface
// with WithStartTimeOverride could not give a new series its own start.
func (b *builtinSeries) emit(mb *metadata.MetricsBuilder, iface string, now pcommon.Timestamp) (restarted int) {
	b.points, restarted = b.deltas.advance(&b.totals, now, b.points[:0])
	var start pcommon.Timestamp
	for i, p := range b.points {
		if i == 0 || p.start != start {
			start = p.start
			mb.Reset(metadata.WithStartTime(start))
		}
		a := classAttrs[p.class]
		mb.RecordXdpPacketsDataPoint(now, p.packets, iface, metadata.AttributeNetworkIoDirectionReceive, a.network, a.transport)
		mb.RecordXdpBytesDataPoint(now, p.bytes, iface, metadata.AttributeNetworkIoDirectionReceive, a.network, a.transport)
	}
	return restarted
}

// programSource is the user's program: xdp.program.count by key of its
// counter map. Every attachment loads the object afresh, so every
// interface has maps of its own.
type programSource struct {
	k       kernel
	spec    bpf.CustomSpec
	obj     programObject     // the object as read by prepare
	names   map[uint32]string // configured names of keys
	enabled bool              // xdp.program.count
}

func (p *programSource) prepare() (err error) {
	p.obj, err = p.k.openProgram(p.spec)
	return err
}

func (p *programSource) attach(iface string, mode bpf.Mode) (reader, error) {
	r, err := p.obj.attach(iface, mode)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (p *programSource) newSeries(attached pcommon.Timestamp) series {
	return &programSeries{deltas: newKeyedTracker(attached), names: p.names, cur: map[uint32]uint64{}}
}

func (p *programSource) metrics() int {
	if p.enabled {
		return 1
	}
	return 0
}

type programSeries struct {
	deltas keyedTracker
	names  map[uint32]string
	cur    map[uint32]uint64 // read buffer
	points []keyedDelta      // delta buffer, reused by every emit
}

func (s *programSeries) read(r reader) error { return r.(programReader).Read(s.cur) }

func (s *programSeries) reattached(at pcommon.Timestamp) { s.deltas.reattached(at) }

func (s *programSeries) activeSeries() int { return len(s.deltas.active) }

// emit records the points as builtinSeries.emit does, in key order.
func (s *programSeries) emit(mb *metadata.MetricsBuilder, iface string, now pcommon.Timestamp) (restarted int) {
	s.points, restarted = s.deltas.advance(s.cur, now, s.points[:0])
	var start pcommon.Timestamp
	for i, p := range s.points {
		if i == 0 || p.start != start {
			start = p.start
			mb.Reset(metadata.WithStartTime(start))
		}
		mb.RecordXdpProgramCountDataPoint(now, p.value, iface, s.keyName(p.key))
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
