//go:build linux

package xdpreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestKernelFiftyVeths runs a receiver whose pattern matches nothing at
// start, then creates 50 veth pairs the pattern matches: each is attached
// as it appears and counts exactly what was injected into it. Deleting
// them ends every series, with a last point, and detaches everything; the
// process's descriptors and goroutines come back to where they were.
func TestKernelFiftyVeths(t *testing.T) {
	xdptest.Privileged(t)
	const n = 50

	// No pair exists yet: the receiver starts with a pattern that matches
	// nothing. The group's namespace is held by a descriptor, open before
	// and after.
	ps := xdptest.NewPairs(t, 0)
	before := measureSettled(t)
	cfg := testConfig(ps.Prefix + "*")
	cfg.ExcludeInterfaces = []string{ps.Prefix + "x*"} // excludes none of them: exclusions work alongside
	require.NoError(t, cfg.Validate())
	s := newScraper(cfg, nopSettings(), linuxKernel(), (&recClock{}).now)
	host := newStatusHost()
	require.NoError(t, startListed(t, s, host))
	t.Cleanup(func() { _ = s.shutdown(t.Context()) })
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	require.Zero(t, md.DataPointCount(), "nothing matches yet")
	loaded := measure(t).bpfFDs // the datapath: its programs and maps
	require.Positive(t, loaded-before.bpfFDs)

	ps.Add(t, n)
	for _, p := range ps.Pairs {
		require.Eventually(t, func() bool { return xdptest.Attached(t, p.Host) }, 10*time.Second, 5*time.Millisecond,
			"%q attached as it appeared", p.Host)
	}
	s.mu.Lock()
	attachedNames := len(s.found.ifaces)
	s.mu.Unlock()
	require.Equal(t, n, attachedNames)

	frames := xdptest.Frames()
	want := map[at]*xdptest.Totals{}
	for i, p := range ps.Pairs {
		want[rx(p.Host)] = &xdptest.Totals{}
		for j := 0; j <= i%5; j++ { // a different count on each interface
			f := frames[(i+j)%len(frames)]
			p.Inject(t, f.Data)
			want[rx(p.Host)][f.Class.Index()].Packets++
			want[rx(p.Host)][f.Class.Index()].Bytes += uint64(len(f.Data))
		}
	}
	got := map[at]*xdptest.Totals{}
	scrape := func() pmetric.Metrics {
		md, err := s.scrape(t.Context())
		require.NoError(t, err)
		return md
	}
	// Series start at their own interface's attachment, which this test
	// does not know exactly: the ledger checks contiguity from the first
	// point on, and totals check exactness.
	l := newLedger()
	firstStart := map[string]pcommon.Timestamp{}
	first := func(iface string) pcommon.Timestamp { return firstStart[iface] }
	scrapeAndCheck := func() pmetric.Metrics {
		md := scrape()
		forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
			if k := keyOf(m, dp); l.last[k] == 0 && firstStart[k.iface] == 0 {
				firstStart[k.iface] = dp.StartTimestamp()
			}
		})
		return md
	}
	scrapeUntil(t, scrapeAndCheck, l, first, got, want)
	assert.Empty(t, host.statuses(), "nothing configured was missing")

	ps.Delete(t)
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.found.ifaces) == 0
	}, 10*time.Second, 5*time.Millisecond, "every deleted interface forgotten")
	md = scrape()
	l.add(t, md, first)
	totalsOf(md, got)
	ended := map[string]bool{}
	forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) { ended[keyOf(m, dp).iface] = true })
	assert.Len(t, ended, n, "every series ends with a last point")
	for where, w := range want {
		assert.Equal(t, *w, *got[where], "%v: the last points add nothing that was not counted", where)
	}
	md = scrape()
	assert.Zero(t, md.DataPointCount(), "no series goes on after its interface went")
	require.Equal(t, loaded, measure(t).bpfFDs, "nothing attached any more, while the receiver runs: only the datapath is loaded")

	require.NoError(t, s.shutdown(t.Context()))
	after := requireBackTo(t, before)
	t.Logf("before %v; after %v", before, after)
}
