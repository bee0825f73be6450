package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"cmp"
	"maps"
	"math"
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// deltaTracker turns one attachment's monotonic totals into delta points.
//
// Every point covers (start, time] and the points of a series follow each
// other without gap or overlap: a series' first point starts when its
// interface was attached, because the kernel counters start from zero then;
// every later point starts at the previous successful read. A read that
// fails moves nothing, so the next successful one covers both intervals and
// no count is lost: the points of a series add up to exactly what the
// kernel counted.
//
// When the user disables network.type or network.transport, the builder
// sums the classes that differ only in those into one series, and a class
// appearing late must not bring a point that overlaps that series' earlier
// points: then every first point starts at the previous read instead. Both
// are exact, as the class counted nothing before.
type deltaTracker struct {
	attached pcommon.Timestamp
	prevTime pcommon.Timestamp
	prev     bpf.Totals
	active   [bpf.NumClasses]bool
	// firstFromAttach makes a series' first point start at attachment.
	firstFromAttach bool
}

func newDeltaTracker(attached pcommon.Timestamp, firstFromAttach bool) deltaTracker {
	return deltaTracker{attached: attached, prevTime: attached, firstFromAttach: firstFromAttach}
}

// reattached restarts the counts from zero for a new attachment. Series
// that were active stay active: they go on being emitted, from the new
// attachment on.
func (d *deltaTracker) reattached(at pcommon.Timestamp) {
	d.attached, d.prevTime, d.prev = at, at, bpf.Totals{}
}

// delta is one series' point for one interval.
type delta struct {
	class   int
	start   pcommon.Timestamp
	packets int64
	bytes   int64
}

// advance takes the totals read at now and appends to out the point of
// every series that has counted something since attachment, zeros included:
// a series left out would read as "unknown" rather than "none". It also
// returns how many series went backwards and were restarted.
func (d *deltaTracker) advance(cur *bpf.Totals, now pcommon.Timestamp, out []delta) (_ []delta, restarted int) {
	for i := range cur {
		c, p := cur[i], d.prev[i]
		var dp, db uint64
		if c.Packets < p.Packets || c.Bytes < p.Bytes {
			// Kernel counters never go backwards under one attachment; if
			// they do, the counter was reset at some unknown moment of
			// (prevTime, now]. What it holds now was counted in that
			// interval, so the series continues with it rather than with a
			// negative delta; what was counted between the previous read
			// and the reset is lost.
			dp, db = c.Packets, c.Bytes
			restarted++
		} else {
			dp, db = c.Packets-p.Packets, c.Bytes-p.Bytes
		}
		start := d.prevTime
		if !d.active[i] {
			if dp == 0 && db == 0 {
				continue
			}
			d.active[i] = true
			if d.firstFromAttach {
				start = d.attached
			}
		}
		out = append(out, delta{class: i, start: start, packets: clampInt64(dp), bytes: clampInt64(db)})
	}
	d.prev = *cur
	d.prevTime = now
	return out, restarted
}

// activeSeries is the number of series advance emits every interval.
func (d *deltaTracker) activeSeries() int {
	n := 0
	for _, a := range d.active {
		if a {
			n++
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

// keyedTracker is deltaTracker for a map of counters whose keys are known
// only once they count: a key is a series from the first interval in which
// it counted something, and a key missing from a later read (a hash entry
// the program deleted) counts as zero, which is a reset if it had counted.
type keyedTracker struct {
	attached pcommon.Timestamp
	prevTime pcommon.Timestamp
	prev     map[uint32]uint64
	active   []uint32 // keys of the active series, sorted
}

func newKeyedTracker(attached pcommon.Timestamp) keyedTracker {
	return keyedTracker{attached: attached, prevTime: attached, prev: map[uint32]uint64{}}
}

// reattached restarts the counts from zero; active series stay active.
func (d *keyedTracker) reattached(at pcommon.Timestamp) {
	d.attached, d.prevTime = at, at
	clear(d.prev)
}

// keyedDelta is one key's point for one interval.
type keyedDelta struct {
	key   uint32
	start pcommon.Timestamp
	value int64
}

// advance takes the counters read at now and appends to out the point of
// every active key and of every key that counted for the first time, in key
// order. A key's first point starts at attachment, the others at the
// previous read; a value that went backwards starts again from the new
// value, over (prevTime, now], as deltaTracker does.
func (d *keyedTracker) advance(cur map[uint32]uint64, now pcommon.Timestamp, out []keyedDelta) (_ []keyedDelta, restarted int) {
	for _, k := range d.active {
		v, back := keyedDiff(cur[k], d.prev[k])
		if back {
			restarted++
		}
		out = append(out, keyedDelta{key: k, start: d.prevTime, value: v})
	}
	known := len(out)
	for k, c := range cur {
		if _, active := slices.BinarySearch(d.active, k); active || c == 0 {
			continue
		}
		// Not active, so it counted nothing since attachment: all of c
		// was counted in (attached, now].
		out = append(out, keyedDelta{key: k, start: d.attached, value: clampInt64(c)})
	}
	if len(out) > known {
		for _, p := range out[known:] {
			i, _ := slices.BinarySearch(d.active, p.key)
			d.active = slices.Insert(d.active, i, p.key)
		}
		slices.SortFunc(out, func(a, b keyedDelta) int { return cmp.Compare(a.key, b.key) })
	}
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
