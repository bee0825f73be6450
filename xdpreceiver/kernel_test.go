//go:build linux

package xdpreceiver

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// The tests in this file run the receiver against the real kernel, on veth
// pairs from xdptest. Without root they fail, unless XDP_SKIP_PRIVILEGED=1.

// startKernelScraper starts a scraper with cfg on the real kernel and
// netlink, and shuts it down when the test ends. Its clock records every
// reading, and its host every status.
func startKernelScraper(t *testing.T, cfg *Config, msgAndArgs ...any) (*xdpScraper, *recClock, *statusHost) {
	t.Helper()
	clk, host := &recClock{}, newStatusHost()
	s := newScraper(cfg, nopSettings(), linuxKernel(), clk.now)
	require.NoError(t, startListed(t, s, host), msgAndArgs...)
	t.Cleanup(func() { _ = s.shutdown(t.Context()) })
	return s, clk, host
}

// mustScrape returns a scrape of s that fails t on any error.
func mustScrape(t *testing.T, s *xdpScraper) func() pmetric.Metrics {
	return func() pmetric.Metrics {
		t.Helper()
		md, err := s.scrape(t.Context())
		require.NoError(t, err)
		return md
	}
}

// recClock is the real clock, remembering what it told the scraper. Start
// asks it first just before loading the built-in counter's datapath (slot
// 0's series start then; a user's program reads no clock there), and then
// once per interface, just before attaching, so its next readings are the
// attachment times that first points must start at.
type recClock struct {
	mu    sync.Mutex
	times []time.Time
}

func (c *recClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := time.Now()
	c.times = append(c.times, t)
	return t
}

func (c *recClock) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.times)
}

func (c *recClock) reading(i int) pcommon.Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	return pcommon.NewTimestampFromTime(c.times[i])
}

// injectFrames injects every crafted frame rounds times and adds them to want.
func injectFrames(t *testing.T, p *xdptest.Pair, rounds int, want *xdptest.Totals, keep func(xdptest.Frame) bool) {
	t.Helper()
	frames(t, p.Inject, rounds, want, keep)
}

// sendFrames sends every crafted frame out of the host end rounds times
// and adds them to want.
func sendFrames(t *testing.T, p *xdptest.Pair, rounds int, want *xdptest.Totals, keep func(xdptest.Frame) bool) {
	t.Helper()
	frames(t, p.Send, rounds, want, keep)
}

// frames puts every crafted frame that keep keeps through put rounds
// times, and adds them to want.
func frames(t *testing.T, put func(testing.TB, ...[]byte), rounds int, want *xdptest.Totals, keep func(xdptest.Frame) bool) {
	t.Helper()
	for range rounds {
		for _, f := range xdptest.Frames() {
			if !keep(f) {
				continue
			}
			put(t, f.Data)
			want[f.Class.Index()].Packets++
			want[f.Class.Index()].Bytes += uint64(len(f.Data))
		}
	}
}

func all(xdptest.Frame) bool { return true }

// at is where a test counts: an interface's direction.
type at struct {
	iface string
	dir   bpf.Direction
}

func rx(iface string) at { return at{iface, bpf.Receive} }
func tx(iface string) at { return at{iface, bpf.Transmit} }

func (a at) String() string { return a.iface + " " + a.dir.String() }

// totalsOf adds md's points up by interface, direction and class.
func totalsOf(md pmetric.Metrics, into map[at]*xdptest.Totals) {
	forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		k := keyOf(m, dp)
		dir, err := bpf.ParseDirection(k.direction)
		if err != nil {
			panic(err)
		}
		c := bpf.Class{
			Network:   classNetwork(k.network),
			Transport: classTransport(k.transport),
		}
		w := at{k.iface, dir}
		if into[w] == nil {
			into[w] = &xdptest.Totals{}
		}
		switch k.metric {
		case "xdp.packets":
			into[w][c.Index()].Packets += uint64(dp.IntValue())
		case "xdp.bytes":
			into[w][c.Index()].Bytes += uint64(dp.IntValue())
		}
	})
}

func classNetwork(s string) bpf.NetworkType {
	for i := range bpf.NumClasses {
		if c := bpf.ClassAt(i); c.Network.String() == s {
			return c.Network
		}
	}
	panic("unknown network.type " + s)
}

func classTransport(s string) bpf.Transport {
	for i := range bpf.NumClasses {
		if c := bpf.ClassAt(i); c.Transport.String() == s {
			return c.Transport
		}
	}
	panic("unknown network.transport " + s)
}

// scrapeUntil scrapes, checking every point against the ledger, until the
// points add up to want for every interface, then waits for stragglers and
// scrapes once more: that last scrape must add nothing. Frames cross a veth
// asynchronously, so the first scrapes may see only some of them.
func scrapeUntil(t *testing.T, scrape func() pmetric.Metrics, l *ledger[seriesKey], first func(string) pcommon.Timestamp, got, want map[at]*xdptest.Totals) {
	t.Helper()
	equal := func() bool {
		for where, w := range want {
			if g := got[where]; g == nil || *g != *w {
				return false
			}
		}
		return true
	}
	for deadline := time.Now().Add(5 * time.Second); !equal() && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		md := scrape()
		l.add(t, md, first)
		totalsOf(md, got)
	}
	time.Sleep(50 * time.Millisecond)
	md := scrape()
	l.add(t, md, first)
	totalsOf(md, got)
	for where, w := range want {
		g := got[where]
		require.NotNil(t, g, "nothing reported for %v", where)
		for i := range w {
			assert.Equal(t, w[i], g[i], "%v: class %v: points add up to {packets, bytes} = %v, want %v", where, bpf.ClassAt(i), g[i], w[i])
		}
	}
	for where := range got {
		assert.Contains(t, want, where, "points for an interface or direction of another receiver")
	}
}

// TestKernelCountsEveryClass runs the receiver as the collector does, with
// both directions, receive on every hook: every class is counted exactly
// each way, over several scrapes whose points are contiguous, the status
// says which hook each direction got, and Shutdown leaves nothing attached.
func TestKernelCountsEveryClass(t *testing.T) {
	for _, tc := range []struct {
		mode, hooks string
	}{
		{"auto", "receive: tcx (auto: TC changes nothing in the driver), transmit: tcx (transmit is counted at TC egress)"},
		{"tc", "receive: tcx (attach_mode: tc), transmit: tcx (transmit is counted at TC egress)"},
		{"native", "receive: xdp-native (attach_mode: native), transmit: tcx (transmit is counted at TC egress)"},
		{"generic", "receive: xdp-generic (attach_mode: generic), transmit: tcx (transmit is counted at TC egress)"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			xdptest.Privileged(t)
			p := xdptest.NewPair(t)
			clk, sink, host := &recClock{}, new(consumertest.MetricsSink), newStatusHost()
			cfg := testConfig(p.Host)
			cfg.InitialDelay = 0
			cfg.AttachMode = tc.mode
			cfg.Directions = []string{"receive", "transmit"}
			tick := make(chan time.Time)
			r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), sink, linuxKernel(), clk.now,
				scraperhelper.WithTickerChannel(tick))
			require.NoError(t, err)
			require.NoError(t, r.Start(t.Context(), host))
			t.Cleanup(func() { _ = r.Shutdown(t.Context()) })
			attached := clk.reading(1)
			first := func(string) pcommon.Timestamp { return attached }
			require.True(t, xdptest.Attached(t, p.Host), "Start attached nothing")
			waitForScrapes(t, sink, 1)
			hooks, ok := host.last().Attributes().Get("interfaces")
			require.True(t, ok, "the status names the hooks")
			hook, _ := hooks.Map().Get(p.Host)
			assert.Equal(t, tc.hooks, hook.Str())

			scrape := func() pmetric.Metrics {
				n := len(sink.AllMetrics())
				tick <- time.Now()
				return waitForScrapes(t, sink, n+1)[n]
			}
			var in, out xdptest.Totals
			injectFrames(t, p, 3, &in, all)
			sendFrames(t, p, 2, &out, all)
			l, got := newLedger(), map[at]*xdptest.Totals{}
			l.add(t, sink.AllMetrics()[0], first)
			totalsOf(sink.AllMetrics()[0], got)
			want := map[at]*xdptest.Totals{rx(p.Host): &in, tx(p.Host): &out}
			scrapeUntil(t, scrape, l, first, got, want)

			// More traffic, more scrapes: the series go on where they left off.
			ipv6 := func(f xdptest.Frame) bool { return f.Class.Network == bpf.IPv6 }
			injectFrames(t, p, 2, &in, ipv6)
			sendFrames(t, p, 1, &out, ipv6)
			scrapeUntil(t, scrape, l, first, got, want)
			assert.GreaterOrEqual(t, len(sink.AllMetrics()), 4, "several scrapes")

			require.NoError(t, r.Shutdown(t.Context()))
			xdptest.RequireDetached(t, p.Host)
			require.NoError(t, r.Shutdown(t.Context()), "a second shutdown")
		})
	}
}

// TestKernelTwoInstances runs two receivers side by side, one native and
// one generic, each on its own pair: each reports its own traffic only.
func TestKernelTwoInstances(t *testing.T) {
	xdptest.Privileged(t)
	p1, p2 := xdptest.NewPair(t), xdptest.NewPair(t)
	clk1, clk2 := &recClock{}, &recClock{}
	edge := newScraper(testConfig(p1.Host), nopSettingsID("edge"), linuxKernel(), clk1.now)
	backendCfg := testConfig(p2.Host)
	backendCfg.AttachMode = "generic"
	backend := newScraper(backendCfg, nopSettingsID("backend"), linuxKernel(), clk2.now)
	require.NoError(t, startListed(t, edge, newStatusHost()))
	t.Cleanup(func() { _ = edge.shutdown(t.Context()) })
	require.NoError(t, startListed(t, backend, newStatusHost()))
	t.Cleanup(func() { _ = backend.shutdown(t.Context()) })

	var want1, want2 xdptest.Totals
	injectFrames(t, p1, 2, &want1, all)
	injectFrames(t, p2, 3, &want2, func(f xdptest.Frame) bool { return f.Class.Network == bpf.ARP || f.Class.Transport == bpf.UDP })
	for _, c := range []struct {
		s    *xdpScraper
		clk  *recClock
		host string
		want *xdptest.Totals
	}{{edge, clk1, p1.Host, &want1}, {backend, clk2, p2.Host, &want2}} {
		attached := c.clk.reading(1)
		scrape := func() pmetric.Metrics {
			md, err := c.s.scrape(t.Context())
			require.NoError(t, err)
			return md
		}
		scrapeUntil(t, scrape, newLedger(), func(string) pcommon.Timestamp { return attached },
			map[at]*xdptest.Totals{}, map[at]*xdptest.Totals{rx(c.host): c.want})
	}

	require.NoError(t, edge.shutdown(t.Context()))
	require.NoError(t, backend.shutdown(t.Context()))
	xdptest.RequireDetached(t, p1.Host, p2.Host)
}

// TestKernelStartFailureLeavesNothingAttached fails Start on its second
// interface, once because it does not exist and once because another
// program holds it: the first interface is left without XDP, and the other
// program is left alone.
func TestKernelStartFailureLeavesNothingAttached(t *testing.T) {
	xdptest.Privileged(t)
	t.Run("missing interface", func(t *testing.T) {
		p := xdptest.NewPair(t)
		s := newScraper(testConfig(p.Host, "xdpnosuch0"), nopSettings(), linuxKernel(), time.Now)
		err := startListed(t, s, newStatusHost())
		require.ErrorContains(t, err, `interface "xdpnosuch0" not found`)
		require.ErrorContains(t, err, `xdp receiver attached none of "`+p.Host+`", "xdpnosuch0"`)
		xdptest.RequireDetached(t, p.Host)
		require.NoError(t, s.shutdown(t.Context()))
	})
	t.Run("foreign program in native mode", func(t *testing.T) {
		p1, p2 := xdptest.NewPair(t), xdptest.NewPair(t)
		foreignID, _ := xdptest.AttachForeignXDP(t, p2.Host)

		cfg := testConfig(p1.Host, p2.Host)
		cfg.AttachMode = "native"
		s := newScraper(cfg, nopSettings(), linuxKernel(), time.Now)
		err := startListed(t, s, newStatusHost())
		var fe *bpf.ForeignProgramError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, p2.Host, fe.Interface)
		xdptest.RequireDetached(t, p1.Host)
		assert.Equal(t, foreignID, xdptest.XDPProgramID(t, p2.Host), "the other program is untouched")
	})
}

// TestKernelInterfaceGone deletes one of two interfaces under a running
// receiver: the scrape is partial, the status turns recoverable, and the
// other interface keeps reporting every packet.
func TestKernelInterfaceGone(t *testing.T) {
	xdptest.Privileged(t)
	p1, p2 := xdptest.NewPair(t), xdptest.NewPair(t)
	s, clk, host := startKernelScraper(t, testConfig(p1.Host, p2.Host))
	attached := map[string]pcommon.Timestamp{p1.Host: clk.reading(1), p2.Host: clk.reading(2)}
	first := func(iface string) pcommon.Timestamp { return attached[iface] }

	var want1, want2 xdptest.Totals
	injectFrames(t, p1, 1, &want1, all)
	injectFrames(t, p2, 1, &want2, all)
	l, got := newLedger(), map[at]*xdptest.Totals{}
	scrape := func() pmetric.Metrics {
		md, err := s.scrape(t.Context())
		require.NoError(t, err)
		return md
	}
	scrapeUntil(t, scrape, l, first, got, map[at]*xdptest.Totals{rx(p1.Host): &want1, rx(p2.Host): &want2})

	p1.DeleteHost(t)
	injectFrames(t, p2, 2, &want2, all)
	// p1's series end with a last point, read from its frozen counters:
	// a zero here, as every frame was reported already.
	md, err := s.scrape(t.Context())
	require.ErrorContains(t, err, `interface "`+p1.Host+`" is gone: it was deleted or moved to another network namespace`)
	require.True(t, scrapererror.IsPartialScrapeError(err))
	l.add(t, md, first)
	totalsOf(md, got)
	partial := func() pmetric.Metrics {
		md, err := s.scrape(t.Context())
		// It stays gone, reported at every scrape, until it comes back.
		require.ErrorContains(t, err, `interface "`+p1.Host+`" is gone`)
		require.True(t, scrapererror.IsPartialScrapeError(err))
		return md
	}
	scrapeUntil(t, partial, l, first, got, map[at]*xdptest.Totals{rx(p1.Host): &want1, rx(p2.Host): &want2})
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses())
	assert.ErrorContains(t, host.last().Err(), p1.Host)

	// It comes back: attached again as it appears, status OK, and its
	// series start afresh at the new attachment.
	n := clk.len()
	p1.Recreate(t)
	require.Eventually(t, func() bool { return xdptest.Attached(t, p1.Host) }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(host.statuses()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, componentstatus.StatusOK, host.last().Status())
	reattached := clk.reading(n) // the first reading since: taken just before attaching
	want1 = xdptest.Totals{}
	injectFrames(t, p1, 1, &want1, all)
	injectFrames(t, p2, 1, &want2, all)
	for k := range l.last {
		if k.iface == p1.Host {
			delete(l.last, k) // a new interface: its series start anew, p2's go on
		}
	}
	delete(got, rx(p1.Host))
	first = func(iface string) pcommon.Timestamp {
		if iface == p1.Host {
			return reattached
		}
		return attached[iface]
	}
	scrapeUntil(t, scrape, l, first, got, map[at]*xdptest.Totals{rx(p1.Host): &want1, rx(p2.Host): &want2})
}

func nopSettingsID(name string) receiverSettings {
	set := nopSettings()
	set.ID = component.MustNewIDWithName("xdp", name)
	return set
}

// TestKernelDetachedFromOutside detaches the receiver's link from outside,
// as bpftool link detach does: the receiver reports the fault, attaches
// again on the next scrape, and its series resume from the new attachment.
func TestKernelDetachedFromOutside(t *testing.T) {
	xdptest.Privileged(t)
	detachedFromOutside(t, func(p *xdptest.Pair) { xdptest.DetachLinks(t, p.Host) })
}

// TestKernelClsactRemovedFromOutside removes the clsact qdisc that holds
// the receiver's filter, as `tc qdisc del dev X clsact` or a CNI that sets
// TC up again does, on the path of kernels before 6.6 (forced through
// OTELCOL_XDP_TC_LEGACY): as for a link detached from outside, the
// receiver reports the fault, attaches again on the next scrape, and its
// series resume from the new attachment.
func TestKernelClsactRemovedFromOutside(t *testing.T) {
	xdptest.Privileged(t)
	t.Setenv(tcLegacyEnv, "1")
	detachedFromOutside(t, func(p *xdptest.Pair) {
		require.NotEmpty(t, xdptest.ClsactFilters(t, p.Host), "counts through a clsact filter")
		require.NoError(t, netlink.QdiscDel(&netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: p.HostIndex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
			QdiscType:  "clsact",
		}))
	})
}

// detachedFromOutside counts on a pair, has detach take the receiver's
// programs off it from outside, and checks that the next scrape reports
// the fault, the one after attaches again (through a clsact filter where
// OTELCOL_XDP_TC_LEGACY asks for one), and the series resume from there.
func detachedFromOutside(t *testing.T, detach func(p *xdptest.Pair)) {
	p := xdptest.NewPair(t)
	s, clk, host := startKernelScraper(t, testConfig(p.Host))
	attached := clk.reading(1)
	scrape := mustScrape(t, s)
	var want xdptest.Totals
	injectFrames(t, p, 1, &want, all)
	scrapeUntil(t, scrape, newLedger(), func(string) pcommon.Timestamp { return attached },
		map[at]*xdptest.Totals{}, map[at]*xdptest.Totals{rx(p.Host): &want})

	detach(p)
	xdptest.RequireDetached(t, p.Host)
	_, err := s.scrape(t.Context())
	require.ErrorContains(t, err, `were detached from outside the collector`)
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses())

	md := scrape() // attaches again, reports from the next scrape on
	assert.Zero(t, md.DataPointCount())
	reattached := clk.reading(clk.len() - 1)
	require.True(t, xdptest.Attached(t, p.Host), "attached again")
	if os.Getenv(tcLegacyEnv) == "1" {
		require.NotEmpty(t, xdptest.ClsactFilters(t, p.Host), "attached again through a clsact filter")
	}
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())

	want = xdptest.Totals{}
	injectFrames(t, p, 2, &want, all)
	scrapeUntil(t, scrape, newLedger(), func(string) pcommon.Timestamp { return reattached },
		map[at]*xdptest.Totals{}, map[at]*xdptest.Totals{rx(p.Host): &want})
}
