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
	finals   []bpf.Totals // received, per attachment, in the order they were released
}

// kernel is the real kernel, its datapath's interfaces recording their last
// counts as they are released.
func (f *finalCounts) kernel() kernel {
	k := linuxKernel()
	load := k.loadDatapath
	k.loadDatapath = func(opts bpf.Options) (datapath, error) {
		d, err := load(opts)
		if err != nil {
			return nil, err
		}
		return &recordingDatapath{datapath: d, f: f}, nil
	}
	return k
}

type recordingDatapath struct {
	datapath
	f *finalCounts
}

func (d *recordingDatapath) open(name string) (datapathInterface, error) {
	i, err := d.datapath.open(name)
	if err != nil {
		return nil, err
	}
	d.f.mu.Lock()
	d.f.attaches++
	d.f.mu.Unlock()
	return recordingInterface{datapathInterface: i, d: d}, nil
}

type recordingInterface struct {
	datapathInterface
	d *recordingDatapath
}

func (i recordingInterface) release() error {
	c, err := i.d.readSlot(i.slot())
	if err != nil {
		return err
	}
	i.d.f.mu.Lock()
	i.d.f.finals = append(i.d.f.finals, bpf.Totals(c.Dir[bpf.Receive]))
	i.d.f.mu.Unlock()
	return i.datapathInterface.release()
}

// TestKernelStress floods a million frames into an interface that a
// receiver scraping every 50ms counts, deleting and re-creating the
// interface mid-flood several times. The exported deltas add up, for every
// attachment, exactly to what the kernel counted on it; each re-created
// interface starts new points rather than subtracting from the old; and
// descriptors, BPF objects and goroutines come back to where they were.
// veth may drop frames before XDP sees them under a flood, so the deltas
// are compared with the kernel's counts, not with what was sent.
func TestKernelStress(t *testing.T) {
	xdptest.Privileged(t)
	const (
		frames    = 1_000_000
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

	before := measureSettled(t)
	cpu0, _ := usage(t)
	fc := &finalCounts{}
	cfg := testConfig(p.Host[:len(p.Host)-1] + "[h]") // a pattern: the interface may go and come back
	cfg.CollectionInterval, cfg.InitialDelay = interval, 0
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

	sent, flooding, cut := 0, time.Duration(0), 0
	for round := 0; sent < frames; round++ {
		n := frames / (deletions + 1)
		if round >= deletions {
			n = frames - sent
		}
		res := make(chan int)
		var took time.Duration
		go func() {
			start := time.Now()
			s := p.Flood(t, frame, n)
			took = time.Since(start)
			res <- s
		}()
		if round < deletions {
			time.Sleep(20 * time.Millisecond)
			p.DeleteHost(t)
		}
		got := <-res
		sent += got
		flooding += took
		if got < n {
			cut++
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

	// The one series, in time order: contiguous within an attachment, a
	// gap (a later start) where a new attachment begins.
	type point struct {
		start, end pcommon.Timestamp
		v          int64
	}
	var pts []point
	exported := bpf.Totals{}
	for _, md := range sink.AllMetrics() {
		forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
			k := keyOf(m, dp)
			require.Equal(t, p.Host, k.iface)
			require.GreaterOrEqual(t, dp.IntValue(), int64(0))
			c := bpf.Class{Network: classNetwork(k.network), Transport: classTransport(k.transport)}.Index()
			if k.metric == "xdp.packets" {
				exported[c].Packets += uint64(dp.IntValue())
				if c == udp {
					pts = append(pts, point{dp.StartTimestamp(), dp.Timestamp(), dp.IntValue()})
				}
			} else {
				exported[c].Bytes += uint64(dp.IntValue())
			}
		})
	}
	slices.SortStableFunc(pts, func(a, b point) int { return cmp.Compare(a.end, b.end) })
	var segments []int64
	for i, pt := range pts {
		require.Less(t, pt.start, pt.end)
		if i > 0 {
			require.GreaterOrEqual(t, pt.start, pts[i-1].end, "point (%v, %v] overlaps the previous one", pt.start, pt.end)
		}
		if i == 0 || pt.start != pts[i-1].end {
			segments = append(segments, 0)
		}
		segments[len(segments)-1] += pt.v
	}

	fc.mu.Lock()
	defer fc.mu.Unlock()
	var kernel bpf.Totals
	var perAttachment []int64
	for _, f := range fc.finals {
		for i := range f {
			kernel[i].Packets += f[i].Packets
			kernel[i].Bytes += f[i].Bytes
		}
		if f[udp].Packets > 0 {
			perAttachment = append(perAttachment, int64(f[udp].Packets))
		}
	}
	assert.Equal(t, deletions+1, fc.attaches, "one attachment per life of the interface")
	assert.Len(t, fc.finals, fc.attaches, "every attachment closed")
	assert.Equal(t, kernel, exported, "exported deltas add up to the kernel's counts")
	assert.Equal(t, perAttachment, segments, "each attachment's points add up to its own counts")
	assert.Empty(t, host.statuses(), "an interface matched by a pattern may come and go")
	assert.Positive(t, cut, "at least one deletion fell in the middle of a flood")
	counted := kernel[udp].Packets
	assert.Greater(t, counted, uint64(0))
	assert.LessOrEqual(t, counted, uint64(sent))

	cpu := cpu1 - cpu0
	t.Logf("frames sent %d, counted by XDP %d (%.2f%%) over %d attachments, %d points; flood %.0f frames/s (%v flooding); "+
		"%d of %d deletions mid-flood; process CPU %v; max RSS %d KiB", sent, counted, 100*float64(counted)/float64(sent), fc.attaches, len(pts),
		float64(sent)/flooding.Seconds(), flooding.Round(time.Millisecond), cut, deletions, cpu.Round(time.Millisecond), maxRSS)
	t.Logf("before %v; after %v", before, after)
}
