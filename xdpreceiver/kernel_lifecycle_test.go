//go:build linux

package xdpreceiver

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestKernelShutdownCountsUntilDetached floods an interface while the
// receiver shuts down: the final collection detaches first and reads
// after, so the points add up to exactly what the kernel counted, up to
// the last packet before the detach. The kernel's own count is read from
// the counters map after the receiver closed it, through a descriptor of
// the test's.
func TestKernelShutdownCountsUntilDetached(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	cfg := testConfig(p.Host)
	cfg.Directions = []string{"receive", "transmit"}
	s := newScraper(cfg, nopSettings(), linuxKernel(), time.Now)
	sink := new(consumertest.MetricsSink)
	s.next = sink
	require.NoError(t, startListed(t, s, newStatusHost()))
	t.Cleanup(func() { _ = s.shutdown(t.Context()) })

	s.mu.Lock()
	slot := s.found.ifaces[p.Host].tap.(*builtinTap[*bpf.Interface]).ifc.Slot()
	s.mu.Unlock()
	// The map of the programs on the interface, through the kernel's ids.
	progs := xdptest.TCXPrograms(t, p.Host)
	require.NotEmpty(t, progs)
	counters := xdptest.ProgramMap(t, progs[0], "counters")

	frame := xdptest.Frames()[1].Data
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // receive
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				p.Flood(t, frame, 256)
			}
		}
	}()
	go func() { // transmit
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				p.Send(t, frame)
			}
		}
	}()
	var got bpf.Counts
	var once []pmetric.Metrics
	for range 3 {
		time.Sleep(20 * time.Millisecond)
		md, err := s.scrape(t.Context())
		require.NoError(t, err)
		once = append(once, md)
	}
	require.NoError(t, s.shutdown(t.Context()))
	close(stop)
	wg.Wait()

	perCPU := []bpf.Counts{}
	require.NoError(t, counters.Lookup(slot, &perCPU))
	var kernel bpf.Counts
	for _, c := range perCPU {
		for d := range c.Dir {
			for i := range c.Dir[d] {
				kernel.Dir[d][i].Packets += c.Dir[d][i].Packets
				kernel.Dir[d][i].Bytes += c.Dir[d][i].Bytes
			}
		}
	}
	for _, md := range append(once, sink.AllMetrics()...) {
		addPoints(md, p.Host, &got)
	}
	require.Len(t, sink.AllMetrics(), 1, "shutdown hands on one final collection")
	assert.Positive(t, kernel.Dir[bpf.Receive][xdptest.Frames()[1].Class.Index()].Packets)
	assert.Positive(t, kernel.Dir[bpf.Transmit][xdptest.Frames()[1].Class.Index()].Packets)
	assert.Equal(t, kernel, got, "the points add up to what the kernel counted until the detach")
}

// addPoints adds md's points of iface into c, by direction and class.
func addPoints(md pmetric.Metrics, iface string, c *bpf.Counts) {
	forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		k := keyOf(m, dp)
		if k.iface != iface {
			return
		}
		d, err := bpf.ParseDirection(k.direction)
		if err != nil {
			panic(err)
		}
		class := bpf.Class{Network: classNetwork(k.network), Transport: classTransport(k.transport)}.Index()
		switch k.metric {
		case "xdp.packets":
			c.Dir[d][class].Packets += uint64(dp.IntValue())
		case "xdp.bytes":
			c.Dir[d][class].Bytes += uint64(dp.IntValue())
		}
	})
}

// TestKernelStartWhileLinksChurn starts and stops receivers while another
// goroutine creates and deletes veths, among 64 that stay: the listing at
// start is a netlink dump of several messages, which links changing
// meanwhile interrupt; it must be retried, never trusted, and never fail
// the start (internal/links proves that such dumps do get interrupted).
func TestKernelStartWhileLinksChurn(t *testing.T) {
	xdptest.Privileged(t)
	xdptest.NewPairs(t, 64).Churn(t)
	ps := xdptest.NewPairs(t, 2)
	p := xdptest.NewPair(t)
	for i := range 20 {
		cfg := testConfig(p.Host, ps.Prefix+"*")
		s := newScraper(cfg, nopSettings(), linuxKernel(), time.Now)
		require.NoError(t, startListed(t, s, newStatusHost()), "start %d", i)
		s.mu.Lock()
		assert.Len(t, s.life.byIndex, 3, "start %d: the exact name and the pattern's two", i)
		s.mu.Unlock()
		require.NoError(t, s.shutdown(t.Context()))
	}
}

// TestKernelAltName counts an interface named in the configuration by an
// alternative name, which netlink resolves.
func TestKernelAltName(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	alt := p.Host + "-alternative" // longer than an interface name may be
	l, err := netlink.LinkByName(p.Host)
	require.NoError(t, err)
	require.NoError(t, netlink.LinkAddAltName(l, alt))
	cfg := testConfig(alt)
	require.NoError(t, cfg.Validate())
	s, clk, _ := startKernelScraper(t, cfg)
	attached := clk.reading(1)
	var want xdptest.Totals
	injectFrames(t, p, 1, &want, all)
	scrapeUntil(t, mustScrape(t, s), newLedger(), func(string) pcommon.Timestamp { return attached },
		map[at]*xdptest.Totals{}, map[at]*xdptest.Totals{rx(alt): &want})
}
