package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"maps"
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// Delta points, whatever they count, follow three rules.
//
// Every point covers (start, time] and the points of a series follow each
// other without gap or overlap: a series' first point starts when its
// interface was attached, because the kernel counters start from zero then;
// every later point starts at the previous successful read. A read that
// fails moves nothing, so the next successful one covers both intervals and
// no count is lost: the points of a series add up to exactly what the
// kernel counted.
//
// A series appears with the first interval in which it counted something
// and is reported every interval from then on, zeros included: a series
// left out would read as "unknown" rather than "none".
//
// Counters never go backwards under one attachment; if they do, the
// counter was reset at some unknown moment of (previous read, now]. What it
// holds now was counted in that interval, so the series continues with it
// rather than with a negative delta; what was counted between the previous
// read and the reset is lost.

// counterTracker turns one interface's counters of the built-in counter
// into delta points, one series per direction and group of classes. A
// group is a class, or, when the user disabled network.type or
// network.transport, the classes that differ only in those, which add up
// into one series.
type counterTracker struct {
	attached pcommon.Timestamp
	prevTime pcommon.Timestamp
	prev     bpf.Counts
	dirs     []bpf.Direction
	groups   *classGroups
	active   [bpf.NumDirections][bpf.NumClasses]bool // by group
	sums     [bpf.NumClasses]counterDelta            // by group, one direction's
}

// counterDelta is one interval's counts of a series.
type counterDelta struct {
	packets, bytes uint64
}

// counterPoint is one series' point for one interval.
type counterPoint struct {
	dir     bpf.Direction
	group   int
	start   pcommon.Timestamp
	packets int64
	bytes   int64
}

func newCounterTracker(attached pcommon.Timestamp, dirs []bpf.Direction, groups *classGroups) *counterTracker {
	return &counterTracker{attached: attached, prevTime: attached, dirs: dirs, groups: groups}
}

// reattached restarts the counts from zero for a new attachment. Series
// that were active stay active: they go on being emitted, from the new
// attachment on.
func (d *counterTracker) reattached(at pcommon.Timestamp) {
	d.attached, d.prevTime, d.prev = at, at, bpf.Counts{}
}

// renew ends every series at the last read: a series that counts after
// it is a new one, whose first point starts there. The counts go on from
// the last read, so that the old series and the new one are contiguous.
func (d *counterTracker) renew() {
	d.attached = d.prevTime
	d.active = [bpf.NumDirections][bpf.NumClasses]bool{}
}

// advance takes the counters read at now and appends to out the point of
// every active series, in direction and group order. It also returns how
// many classes went backwards.
func (d *counterTracker) advance(cur *bpf.Counts, now pcommon.Timestamp, out []counterPoint) (_ []counterPoint, restarted int) {
	for _, dir := range d.dirs {
		clear(d.sums[:d.groups.n])
		for class := range bpf.NumClasses {
			c, p := cur.Dir[dir][class], d.prev.Dir[dir][class]
			if c.Packets < p.Packets || c.Bytes < p.Bytes {
				p = bpf.Counter{}
				restarted++
			}
			s := &d.sums[d.groups.of[class]]
			s.packets += c.Packets - p.Packets
			s.bytes += c.Bytes - p.Bytes
		}
		for g, s := range d.sums[:d.groups.n] {
			start := d.prevTime
			if !d.active[dir][g] {
				if s == (counterDelta{}) {
					continue
				}
				d.active[dir][g] = true
				start = d.attached
			}
			out = append(out, counterPoint{dir: dir, group: g, start: start, packets: clampInt64(s.packets), bytes: clampInt64(s.bytes)})
		}
	}
	d.prev = *cur
	d.prevTime = now
	return out, restarted
}

// activeSeries is the number of series advance emits every interval.
func (d *counterTracker) activeSeries() int {
	n := 0
	for _, dir := range d.dirs {
		for _, a := range d.active[dir][:d.groups.n] {
			if a {
				n++
			}
		}
	}
	return n
}

func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}

// keyedTracker turns the counter map of a user's program into delta
// points: a key is a series from the first interval in which it counted
// something, and a key missing from a later read (a hash entry the program
// deleted) counts as zero, which is a reset if it had counted.
type keyedTracker struct {
	attached pcommon.Timestamp
	prevTime pcommon.Timestamp
	prev     map[uint32]uint64
	active   map[uint32]bool
	keys     []uint32        // the active keys, sorted
	joined   map[uint32]bool // keys that became active in this advance
}

func newKeyedTracker(attached pcommon.Timestamp) *keyedTracker {
	return &keyedTracker{attached: attached, prevTime: attached, prev: map[uint32]uint64{},
		active: map[uint32]bool{}, joined: map[uint32]bool{}}
}

// reattached restarts the counts from zero; active series stay active.
func (d *keyedTracker) reattached(at pcommon.Timestamp) {
	d.attached, d.prevTime = at, at
	clear(d.prev)
}

// renew ends every series at the last read, as counterTracker.renew.
func (d *keyedTracker) renew() {
	d.attached = d.prevTime
	clear(d.active)
	d.keys = d.keys[:0]
}

// keyedPoint is one key's point for one interval.
type keyedPoint struct {
	key   uint32
	start pcommon.Timestamp
	value int64
}

// advance takes the counters read at now and appends to out the point of
// every active key, in key order: a key that joins, having counted since
// the previous read, starts at attachment (or at the renew that ended its
// series), having counted nothing of its own before; the others at the
// previous read. Keys that join are sorted in at once, so an advance costs
// in the number of keys, not its square.
func (d *keyedTracker) advance(cur map[uint32]uint64, now pcommon.Timestamp, out []keyedPoint) (_ []keyedPoint, restarted int) {
	for k, c := range cur {
		if v, _ := keyedDiff(c, d.prev[k]); v != 0 && !d.active[k] {
			d.active[k] = true
			d.joined[k] = true
			d.keys = append(d.keys, k)
		}
	}
	if len(d.joined) > 0 {
		slices.Sort(d.keys)
	}
	for _, k := range d.keys {
		v, back := keyedDiff(cur[k], d.prev[k]) // from zero after an attach, from the split after a renew
		if d.joined[k] {
			out = append(out, keyedPoint{key: k, start: d.attached, value: v})
			continue
		}
		if back {
			restarted++
		}
		out = append(out, keyedPoint{key: k, start: d.prevTime, value: v})
	}
	clear(d.joined)
	clear(d.prev)
	maps.Copy(d.prev, cur)
	d.prevTime = now
	return out, restarted
}

// keyedDiff is the delta from p to c, or c when the counter went backwards:
// it was reset at some unknown moment since the previous read, and what it
// holds now was counted since.
func keyedDiff(c, p uint64) (v int64, backwards bool) {
	if c < p {
		return clampInt64(c), true
	}
	return clampInt64(c - p), false
}
