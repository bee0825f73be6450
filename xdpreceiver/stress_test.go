//go:build linux

package xdpreceiver

import (
	"cmp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// finalCounts collects what the kernel counted on every attachment, read
// from its slot as it is released: after the interface went, or at
// shutdown once it was detached, so that nothing counts after the read.
type finalCounts struct {
	mu       sync.Mutex
	attaches int
	finals   []bpf.Counts // per attachment, in the order they were released
}

// kernel is the real kernel, its datapath's interfaces recording their last
// counts as they are released.
func (f *finalCounts) kernel() kernel[slotHandle, *bpf.CustomAttachment] {
	lk := linuxKernel()
	k := kernel[slotHandle, *bpf.CustomAttachment]{openProgram: lk.openProgram, describeDriver: lk.describeDriver, links: lk.links}
	load := lk.loadDatapath
	k.loadDatapath = func(opts bpf.Options) (datapath[slotHandle], error) {
		d, err := load(opts)
		if err != nil {
			return nil, err
		}
		return &recordingDatapath{datapath: d, f: f}, nil
	}
	return k
}

type recordingDatapath struct {
	datapath[*bpf.Interface]
	f *finalCounts
}

func (d *recordingDatapath) Open(name string) (slotHandle, error) {
	i, err := d.datapath.Open(name)
	if err != nil {
		return nil, err
	}
	d.f.mu.Lock()
	d.f.attaches++
	d.f.mu.Unlock()
	return recordingInterface{Interface: i, d: d}, nil
}

type recordingInterface struct {
	*bpf.Interface
	d *recordingDatapath
}

func (i recordingInterface) Release() error {
	c, err := i.d.ReadSlot(i.Slot())
	if err != nil {
		return err
	}
	i.d.f.mu.Lock()
	i.d.f.finals = append(i.d.f.finals, c)
	i.d.f.mu.Unlock()
	return i.Interface.Release()
}

// TestKernelStress floods a million frames into an interface and a million
// out of it, at once, while a receiver counting both directions scrapes
// every 50ms, deleting and re-creating the interface mid-flood several
// times. The exported deltas add up, for every attachment and direction,
// exactly to what the kernel counted on it; each re-created interface
// starts new points rather than subtracting from the old; and descriptors,
// BPF objects and goroutines come back to where they were. veth may drop
// frames before the counter sees them under a flood, so the deltas are
// compared with the kernel's counts, not with what was sent.
func TestKernelStress(t *testing.T) {
	xdptest.Privileged(t)
	const (
		frames    = 1_000_000 // each way
		deletions = 5
		interval  = 50 * time.Millisecond
	)
	p := xdptest.NewPair(t)
	var frame []byte
	for _, f := range xdptest.Frames() {
		if f.Name == "ipv4/udp" {
			frame = f.Data
		}
	}
	require.NotNil(t, frame)
	udp := bpf.Class{Network: bpf.IPv4, Transport: bpf.UDP}.Index()
	p.Send(t) // opens the host's socket before the floods share it

	before := measureSettled(t)
	cpu0, _ := usage(t)
	fc := &finalCounts{}
	cfg := testConfig(p.Host[:len(p.Host)-1] + "[h]") // a pattern: the interface may go and come back
	cfg.CollectionInterval, cfg.InitialDelay = interval, 0
	cfg.Directions = []string{"receive", "transmit"}
	sink := new(consumertest.MetricsSink)
	host := newStatusHost()
	r, err := newReceiver(cfg, nopSettings(), sink, fc.kernel(), time.Now)
	require.NoError(t, err)
	require.NoError(t, r.Start(t.Context(), host))
	t.Cleanup(func() { _ = r.Shutdown(t.Context()) })
	attached := func() {
		require.Eventually(t, func() bool { return xdptest.Attached(t, p.Host) }, 10*time.Second, time.Millisecond,
			"%q attached", p.Host)
	}
	attached()

	var sent [bpf.NumDirections]int
	flooding, cut, refused := time.Duration(0), 0, 0
	for round := 0; sent[bpf.Receive] < frames || sent[bpf.Transmit] < frames; round++ {
		var got [bpf.NumDirections]int
		var wg sync.WaitGroup
		start := time.Now()
		n := func(dir bpf.Direction) int {
			if round >= deletions {
				return frames - sent[dir]
			}
			return frames / (deletions + 1)
		}
		cutShort := func(dir bpf.Direction, s int) {
			if got[dir] = s; s < n(dir) {
				got[dir] = -s
			}
		}
		wg.Go(func() { cutShort(bpf.Receive, p.Flood(t, frame, n(bpf.Receive))) })
		wg.Go(func() {
			s, r := p.FloodOut(t, frame, n(bpf.Transmit))
			refused += r
			cutShort(bpf.Transmit, s)
		})
		if round < deletions {
			time.Sleep(20 * time.Millisecond)
			p.DeleteHost(t)
		}
		wg.Wait()
		flooding += time.Since(start)
		for dir, n := range got {
			if n < 0 {
				cut++
				n = -n
			}
			sent[dir] += n
		}
		if round < deletions {
			p.Recreate(t)
			attached()
		}
	}
	// Let the last frames through, then let the receiver scrape them.
	time.Sleep(300 * time.Millisecond)
	waitForScrapes(t, sink, len(sink.AllMetrics())+3)
	require.NoError(t, r.Shutdown(t.Context()))
	cpu1, maxRSS := usage(t)
	after := requireBackTo(t, before)

	// Each direction's UDP series, in time order: contiguous within an
	// attachment, a gap (a later start) where a new attachment begins.
	type point struct {
		start, end pcommon.Timestamp
		v          int64
	}
	var pts [bpf.NumDirections][]point
	var exported bpf.Counts
	for _, md := range sink.AllMetrics() {
		forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
			k := keyOf(m, dp)
			require.Equal(t, p.Host, k.iface)
			require.GreaterOrEqual(t, dp.IntValue(), int64(0))
			dir, err := bpf.ParseDirection(k.direction)
			require.NoError(t, err)
			c := bpf.Class{Network: classNetwork(k.network), Transport: classTransport(k.transport)}.Index()
			if k.metric == "xdp.packets" {
				exported.Dir[dir][c].Packets += uint64(dp.IntValue())
				if c == udp {
					pts[dir] = append(pts[dir], point{dp.StartTimestamp(), dp.Timestamp(), dp.IntValue()})
				}
			} else {
				exported.Dir[dir][c].Bytes += uint64(dp.IntValue())
			}
		})
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	assert.Equal(t, deletions+1, fc.attaches, "one attachment per life of the interface")
	assert.Len(t, fc.finals, fc.attaches, "every attachment closed")
	assert.Empty(t, host.statuses(), "an interface matched by a pattern may come and go")
	assert.Positive(t, cut, "at least one deletion fell in the middle of a flood")

	var kernel bpf.Counts
	for dir := range bpf.NumDirections {
		slices.SortStableFunc(pts[dir], func(a, b point) int { return cmp.Compare(a.end, b.end) })
		var segments []int64
		for i, pt := range pts[dir] {
			require.Less(t, pt.start, pt.end)
			if i > 0 {
				require.GreaterOrEqual(t, pt.start, pts[dir][i-1].end, "%s: point (%v, %v] overlaps the previous one", bpf.Direction(dir), pt.start, pt.end)
			}
			if i == 0 || pt.start != pts[dir][i-1].end {
				segments = append(segments, 0)
			}
			segments[len(segments)-1] += pt.v
		}
		var perAttachment []int64
		for _, f := range fc.finals {
			for i, c := range f.Dir[dir] {
				kernel.Dir[dir][i].Packets += c.Packets
				kernel.Dir[dir][i].Bytes += c.Bytes
			}
			if n := f.Dir[dir][udp].Packets; n > 0 {
				perAttachment = append(perAttachment, int64(n))
			}
		}
		assert.Equal(t, kernel.Dir[dir], exported.Dir[dir], "%s: exported deltas add up to the kernel's counts", bpf.Direction(dir))
		assert.Equal(t, perAttachment, segments, "%s: each attachment's points add up to its own counts", bpf.Direction(dir))
		counted := kernel.Dir[dir][udp].Packets
		assert.Positive(t, counted, bpf.Direction(dir))
		seen := sent[dir] // frames that went through the hook at most
		if dir == int(bpf.Transmit) {
			seen += refused
		}
		assert.LessOrEqual(t, counted, uint64(seen), bpf.Direction(dir))
		t.Logf("%s: frames sent %d, counted %d (%.2f%%) over %d attachments, %d points", bpf.Direction(dir),
			sent[dir], counted, 100*float64(counted)/float64(sent[dir]), fc.attaches, len(pts[dir]))
	}
	cpu := cpu1 - cpu0
	t.Logf("flood %.0f frames/s each way (%v flooding); %d floods of %d cut short by a deletion; %d frames perhaps refused by the veth after egress and sent again; process CPU %v; max RSS %d KiB",
		float64(sent[bpf.Receive])/flooding.Seconds(), flooding.Round(time.Millisecond), cut, 2*deletions, refused, cpu.Round(time.Millisecond), maxRSS)
	t.Logf("before %v; after %v", before, after)
}
