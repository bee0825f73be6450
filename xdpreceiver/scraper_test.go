package xdpreceiver

import (
	"errors"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/scraper/scrapererror"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden from the scrapes")

var (
	ipv4TCP = bpf.Class{Network: bpf.IPv4, Transport: bpf.TCP}
	ipv6UDP = bpf.Class{Network: bpf.IPv6, Transport: bpf.UDP}
	arp     = bpf.Class{Network: bpf.ARP, Transport: bpf.TransportNone}
	other   = bpf.Class{Network: bpf.NetworkOther, Transport: bpf.TransportNone}
)

// requireGolden compares md with testdata/golden/name.yaml, exactly,
// timestamps included: they are the delta intervals under test.
func requireGolden(t *testing.T, name string, md pmetric.Metrics) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".yaml")
	if *update {
		require.NoError(t, golden.WriteMetrics(t, path, md, golden.SkipMetricTimestampNormalization()))
	}
	want, err := golden.ReadMetrics(path)
	require.NoError(t, err)
	require.NoError(t, pmetrictest.CompareMetrics(want, md,
		pmetrictest.IgnoreMetricDataPointsOrder(), pmetrictest.IgnoreMetricsOrder()))
}

// TestScrapeSequence walks two interfaces through the cases a series meets:
// its first scrape, a series appearing later, zeros after appearing, and
// counters going backwards; each scrape is checked against a golden file,
// and the whole sequence for contiguity and exact sums.
func TestScrapeSequence(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	s := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0", "eth1")
	attached := clk.at(0)
	require.NoError(t, startListed(t, s, newStatusHost()))
	first := func(string) pcommon.Timestamp { return attached }
	l := newLedger()
	scrape := func(sec int, golden string) {
		t.Helper()
		clk.at(sec)
		md, err := s.scrape(t.Context())
		require.NoError(t, err)
		requireGolden(t, golden, md)
		l.add(t, md, first)
	}

	// Nothing counted yet: no series at all.
	scrape(10, "scrape0_nothing")

	// eth0 counts two classes; eth1 nothing: only eth0's series appear,
	// starting at attachment.
	k.add(t, "eth0", ipv4TCP, 10, 100)
	k.add(t, "eth0", arp, 1, 60)
	scrape(20, "scrape1_first")

	// eth0's ARP stays still and is emitted as zero; eth1 counts for the
	// first time, and its series starts at attachment, not at scrape 1.
	k.add(t, "eth0", ipv4TCP, 5, 100)
	k.add(t, "eth1", ipv6UDP, 3, 200)
	scrape(30, "scrape2_appear_and_zeros")

	// eth0's TCP counter goes backwards: the series continues with the
	// new value instead of a negative delta.
	k.set(t, "eth0", ipv4TCP, 2, 150)
	k.add(t, "eth1", ipv6UDP, 1, 200)
	scrape(40, "scrape3_backwards")

	for key, want := range map[seriesKey]int64{
		{"xdp.packets", "eth0", "receive", "ipv4", "tcp"}:   15 + 2,
		{"xdp.bytes", "eth0", "receive", "ipv4", "tcp"}:     1500 + 150,
		{"xdp.packets", "eth0", "receive", "arp", "none"}:   1,
		{"xdp.bytes", "eth0", "receive", "arp", "none"}:     60,
		{"xdp.packets", "eth1", "receive", "ipv6", "udp"}:   4,
		{"xdp.bytes", "eth1", "receive", "ipv6", "udp"}:     800,
		{"xdp.packets", "eth0", "receive", "ipv6", "udp"}:   0,
		{"xdp.packets", "eth1", "receive", "ipv4", "tcp"}:   0,
		{"xdp.packets", "eth0", "receive", "other", "none"}: 0,
	} {
		assert.Equal(t, want, l.sum[key], "%v", key)
	}
	assert.Len(t, l.last, 6, "series emitted")
}

// TestScrapeSumsEqualKernel drives random-looking traffic over every class
// and checks that the points add up to the kernel's totals exactly.
func TestScrapeSumsEqualKernel(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	s := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0")
	attached := clk.at(0)
	require.NoError(t, startListed(t, s, newStatusHost()))
	l := newLedger()
	for step := 1; step <= 30; step++ {
		for i := range bpf.NumClasses {
			if (step*7+i*3)%5 == 0 {
				k.add(t, "eth0", bpf.ClassAt(i), uint64(step+i), uint64(64+i))
			}
		}
		clk.at(step)
		md, err := s.scrape(t.Context())
		require.NoError(t, err)
		l.add(t, md, func(string) pcommon.Timestamp { return attached })
	}
	kernel := k.counters["eth0"].totals.Dir[bpf.Receive]
	for i := range bpf.NumClasses {
		c := bpf.ClassAt(i)
		p := l.sum[seriesKey{"xdp.packets", "eth0", "receive", c.Network.String(), c.Transport.String()}]
		b := l.sum[seriesKey{"xdp.bytes", "eth0", "receive", c.Network.String(), c.Transport.String()}]
		assert.Equal(t, int64(kernel[i].Packets), p, "packets of %s", c)
		assert.Equal(t, int64(kernel[i].Bytes), b, "bytes of %s", c)
	}
}

// TestScrapeReadFails has the datapath's read fail for two scrapes: the
// scrapes are partial, the status turns recoverable once and OK once, and
// the next successful read covers the missed intervals, so that nothing
// counted is lost.
func TestScrapeReadFails(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	s := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0", "eth1")
	host := newStatusHost()
	attached := clk.at(0)
	require.NoError(t, startListed(t, s, host))
	l := newLedger()
	first := func(string) pcommon.Timestamp { return attached }

	k.add(t, "eth0", ipv4TCP, 1, 100)
	k.add(t, "eth1", ipv4TCP, 2, 100)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	l.add(t, md, first)
	assert.Empty(t, host.statuses(), "no fault while every read succeeds")

	readErr := errors.New("fake fault")
	k.setReadErr("", readErr)
	for _, sec := range []int{20, 30} {
		k.add(t, "eth0", ipv4TCP, 1, 100)
		k.add(t, "eth1", ipv4TCP, 1, 100)
		clk.at(sec)
		md, err = s.scrape(t.Context())
		require.Error(t, err)
		require.True(t, scrapererror.IsPartialScrapeError(err), "want a partial scrape error, got %v", err)
		var partial scrapererror.PartialScrapeError
		require.ErrorAs(t, err, &partial)
		assert.Equal(t, 4, partial.Failed, "each interface's one series, in two metrics")
		// PartialScrapeError does not unwrap, so the cause shows in text only.
		assert.ErrorContains(t, err, `reading the counters of "eth1": fake fault`)
		assert.Zero(t, md.DataPointCount())
	}
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses(),
		"one report for the fault, none while it lasts")
	assert.ErrorIs(t, host.last().Err(), readErr)

	k.setReadErr("", nil)
	clk.at(40)
	md, err = s.scrape(t.Context())
	require.NoError(t, err)
	requireGolden(t, "recovered_covers_gap", md)
	l.add(t, md, first)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())
	assert.Equal(t, int64(4), l.sum[seriesKey{"xdp.packets", "eth1", "receive", "ipv4", "tcp"}], "nothing lost over the fault")
	assert.Equal(t, int64(3), l.sum[seriesKey{"xdp.packets", "eth0", "receive", "ipv4", "tcp"}])
}

// TestScrapeInterfaceGone has the exactly named eth1 disappear: its last
// counts are emitted, it is reported until it returns, and once it does
// its series resume from the new attachment.
func TestScrapeInterfaceGone(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	s := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0", "eth1")
	host := newStatusHost()
	clk.at(0)
	require.NoError(t, startListed(t, s, host))
	k.add(t, "eth1", arp, 1, 60)
	clk.at(10)
	_, err := s.scrape(t.Context())
	require.NoError(t, err)

	k.add(t, "eth1", arp, 2, 60) // counted before the interface went
	clk.at(15)
	k.delLink("eth1")
	require.Eventually(t, func() bool { return k.closes("eth1") == 1 }, 5*time.Second, time.Millisecond, "the dead attachment is closed")
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses())
	assert.ErrorContains(t, host.last().Err(), `interface "eth1" is gone`)
	reports := host.reports()
	clk.at(20)
	md, err := s.scrape(t.Context())
	require.ErrorContains(t, err, `interface "eth1" is gone: it was deleted or moved to another network namespace; counting resumes when it returns`)
	require.True(t, scrapererror.IsPartialScrapeError(err))
	l := newLedger()
	at10 := pcommon.NewTimestampFromTime(epoch.Add(10 * time.Second))
	l.add(t, md, func(string) pcommon.Timestamp { return at10 })
	assert.Equal(t, int64(2), l.sum[seriesKey{"xdp.packets", "eth1", "receive", "arp", "none"}], "the last delta, read when the interface went")
	clk.at(30)
	_, err = s.scrape(t.Context())
	require.ErrorContains(t, err, `interface "eth1" is gone`)
	assert.Equal(t, []string{"eth0", "eth1"}, k.attaches, "a gone interface is not looked for at every scrape")
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses())
	assert.Equal(t, reports, host.reports(), "reported once")

	clk.at(40) // the new attachment's time: its series start here
	k.addLink("eth1")
	require.Eventually(t, func() bool { return k.attachCount() == 3 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return len(host.statuses()) == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())
	assert.Equal(t, []string{"eth0", "eth1", "eth1"}, k.attaches)

	// ARP, active before, goes on as a zero; TCP appears. Both start at the
	// new attachment.
	k.add(t, "eth1", ipv4TCP, 1, 80)
	clk.at(50)
	md, err = s.scrape(t.Context())
	require.NoError(t, err)
	requireGolden(t, "reattached", md)
}

func TestStartFailureClosesAttached(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	k.attachErrs["eth1"] = errors.New(`interface "eth1" not found (fake); interfaces on this host: eth0, lo`)
	s := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0", "eth1", "eth2")
	err := startListed(t, s, newStatusHost())
	require.EqualError(t, err, `xdp receiver attached none of "eth0", "eth1", "eth2": interface "eth1" not found (fake); interfaces on this host: eth0, lo`)
	assert.Equal(t, 1, k.closes("eth0"), "eth0, attached before eth1 failed, is detached")
	assert.Equal(t, []string{"eth0"}, k.attaches, "nothing is attached after the failure")

	// The failed instance holds no claim: another can take its interfaces.
	other := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0")
	require.NoError(t, startListed(t, other, newStatusHost()))
}

func TestShutdownWithoutStart(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	s := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0")
	require.NoError(t, s.shutdown(t.Context()))
	require.NoError(t, s.shutdown(t.Context()))
	assert.Empty(t, k.attaches)
}

func TestShutdownTwice(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	s := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0", "eth1")
	require.NoError(t, startListed(t, s, newStatusHost()))
	require.NoError(t, s.shutdown(t.Context()))
	require.NoError(t, s.shutdown(t.Context()))
	assert.Equal(t, 1, k.closes("eth0"))
	assert.Equal(t, 1, k.closes("eth1"))
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	assert.Zero(t, md.DataPointCount(), "a scrape after shutdown reads nothing")
}

func TestStartTwice(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	s := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0")
	require.NoError(t, startListed(t, s, newStatusHost()))
	require.EqualError(t, startListed(t, s, newStatusHost()), "xdp receiver is already started")
	assert.Equal(t, []string{"eth0"}, k.attaches)
}

func TestDeltaClamp(t *testing.T) {
	assert.Equal(t, int64(5), clampInt64(5))
	assert.Equal(t, int64(1<<63-1), clampInt64(1<<63+5))
}

// TestScrapeBothDirections counts receive and transmit: each direction's
// classes are series of their own, told apart by network.io.direction, and
// each appears with its first count.
func TestScrapeBothDirections(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	cfg := testConfig("eth0")
	cfg.Directions = []string{"receive", "transmit"}
	s := newConfiguredScraper(t, k, clk, cfg)
	attached := clk.at(0)
	require.NoError(t, startListed(t, s, newStatusHost()))
	assert.Equal(t, []bpf.Direction{bpf.Receive, bpf.Transmit}, k.dirs, "both directions attached")
	l := newLedger()
	k.addDir(t, "eth0", bpf.Receive, ipv4TCP, 3, 100)
	k.addDir(t, "eth0", bpf.Transmit, ipv4TCP, 2, 1500)
	k.addDir(t, "eth0", bpf.Transmit, arp, 1, 42)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	requireGolden(t, "both_directions", md)
	l.add(t, md, func(string) pcommon.Timestamp { return attached })
	assert.Equal(t, int64(3), l.sum[seriesKey{"xdp.packets", "eth0", "receive", "ipv4", "tcp"}])
	assert.Equal(t, int64(2), l.sum[seriesKey{"xdp.packets", "eth0", "transmit", "ipv4", "tcp"}])
	assert.Equal(t, int64(3000), l.sum[seriesKey{"xdp.bytes", "eth0", "transmit", "ipv4", "tcp"}])
	assert.Equal(t, int64(1), l.sum[seriesKey{"xdp.packets", "eth0", "transmit", "arp", "none"}])
}
