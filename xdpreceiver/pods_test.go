package xdpreceiver

import (
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/pods"
)

// Pod IPs of the fakes: no packet is sent to them. IPv6 ones are from the
// documentation prefix.
var (
	podA   = netip.MustParseAddr("198.18.0.10")
	podB   = netip.MustParseAddr("198.18.0.11")
	podA6  = netip.MustParseAddr("2001:db8::a")
	podB6  = netip.MustParseAddr("2001:db8::b")
	keyPod = "k8s.pod.ip"
)

func TestPodIP(t *testing.T) {
	for _, tt := range []struct {
		ips         []netip.Addr
		ipv4, ipv6  string
		explanation string
	}{
		{nil, "", "", "no address: no pod"},
		{[]netip.Addr{podA}, "198.18.0.10", "198.18.0.10", "single stack: its one address, whatever the family"},
		{[]netip.Addr{podA6}, "2001:db8::a", "2001:db8::a", "single stack: its one address, whatever the family"},
		{[]netip.Addr{podA, podA6}, "198.18.0.10", "2001:db8::a", "dual stack: the address of the family asked for"},
		{[]netip.Addr{podA, podB, podA6, podB6}, "198.18.0.10", "2001:db8::a", "the first of the family"},
	} {
		assert.Equal(t, tt.ipv4, podIP(tt.ips, "ipv4"), "%v: %s", tt.ips, tt.explanation)
		assert.Equal(t, tt.ipv6, podIP(tt.ips, "ipv6"), "%v: %s", tt.ips, tt.explanation)
	}
}

// fakePods stands in for internal/pods: the test says which pod each
// interface belongs to, and when that changes.
type fakePods struct {
	mu      sync.Mutex
	initial []pods.Event
	err     error
	// failures is how many watches fail with err before one starts; < 0:
	// every one.
	failures int
	events   chan<- pods.Event
	done     <-chan struct{}
	onErr    func(error)
	watches  int
}

// watch sends the initial listing, then returns, as pods.Watch does.
func (p *fakePods) watch(events chan<- pods.Event, done <-chan struct{}, onErr func(error)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.watches++
	if p.err != nil && (p.failures < 0 || p.watches <= p.failures) {
		return p.err
	}
	for _, e := range p.initial {
		events <- e
	}
	p.events, p.done, p.onErr = events, done, onErr
	return nil
}

// send tells that the interface with index belongs to the pod with ips now
// (none without), and waits until the receiver applied it.
func (p *fakePods) send(t *testing.T, s *xdpScraper, index int, ips ...netip.Addr) {
	t.Helper()
	var events chan<- pods.Event
	// The receiver starts the watch in the background.
	require.Eventually(t, func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		events = p.events
		return events != nil
	}, 10*time.Second, time.Millisecond, "fake: the receiver does not watch pods")
	events <- pods.Event{Index: index, IPs: ips}
	waitPod(t, s, index, podIP(ips, s.cfg.Pods.IPFamily))
}

// waitPod waits until the receiver knows that the interface with index
// belongs to pod ("" for none).
func waitPod(t *testing.T, s *xdpScraper, index int, pod string) {
	t.Helper()
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.life != nil && s.life.pods[index] == pod
	}, 10*time.Second, time.Millisecond, "the receiver never applied the pod event of %d", index)
}

// newPodScraper is a scraper with cfg on the fake kernel, which follows
// pods through p.
func newPodScraper(t *testing.T, k *fakeKernel, clk *fakeClock, cfg *Config, p *fakePods) *xdpScraper {
	t.Helper()
	kern := k.kernel()
	kern.watchPods = p.watch
	s := newScraper(cfg, nopSettings(), kern, clk.now)
	t.Cleanup(func() { _ = s.shutdown(t.Context()) })
	return s
}

// startInPodA starts a scraper of cfg on a fake kernel whose eth0 belongs
// to podA from the first listing on, and returns the time of attachment.
func startInPodA(t *testing.T, cfg *Config) (*fakeKernel, *fakeClock, *fakePods, *xdpScraper, pcommon.Timestamp) {
	t.Helper()
	k, clk, p := newFakeKernel(), newFakeClock(), &fakePods{}
	p.initial = []pods.Event{{Index: k.links["eth0"], IPs: []netip.Addr{podA}}}
	s := newPodScraper(t, k, clk, cfg, p)
	attached := clk.at(0)
	require.NoError(t, startListed(t, s, newStatusHost()))
	waitPod(t, s, k.links["eth0"], podA.String())
	return k, clk, p, s, attached
}

// podSeries is a series with its resource's pod IP.
type podSeries struct {
	pod string
	seriesKey
}

// podLedger checks contiguity and sums across scrapes, with the resource
// in each series' identity: a series' first point starts at first(key),
// each later one where the previous ended.
type podLedger struct {
	last map[podSeries]pcommon.Timestamp
	sum  map[podSeries]int64
}

func newPodLedger() *podLedger {
	return &podLedger{last: map[podSeries]pcommon.Timestamp{}, sum: map[podSeries]int64{}}
}

func (l *podLedger) add(t *testing.T, md pmetric.Metrics, first func(podSeries) pcommon.Timestamp) {
	t.Helper()
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		pod := ""
		if v, ok := rm.Resource().Attributes().Get(keyPod); ok {
			pod = v.Str()
			require.NotEmpty(t, pod, "an empty k8s.pod.ip")
		}
		one := pmetric.NewMetrics()
		rm.CopyTo(one.ResourceMetrics().AppendEmpty())
		forEachPoint(one, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
			k := podSeries{pod, keyOf(m, dp)}
			want, seen := l.last[k]
			if !seen {
				want = first(k)
			}
			assert.Equal(t, want, dp.StartTimestamp(), "%v: the point (%v, %v] does not start where it should", k, dp.StartTimestamp(), dp.Timestamp())
			assert.Greater(t, dp.Timestamp(), dp.StartTimestamp(), "%v: empty or reversed interval", k)
			l.last[k] = dp.Timestamp()
			l.sum[k] += dp.IntValue()
		})
	}
}

// podsOf lists the pod IPs of md's resources, in order, "" for the
// node's, and checks that no resource comes twice.
func podsOf(t *testing.T, md pmetric.Metrics) []string {
	t.Helper()
	var out []string
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		attrs := md.ResourceMetrics().At(i).Resource().Attributes()
		v, _ := attrs.Get(keyPod)
		assert.LessOrEqual(t, attrs.Len(), 1, "only k8s.pod.ip on a resource")
		assert.NotContains(t, out, v.Str(), "a resource twice")
		out = append(out, v.Str())
	}
	return out
}

func bothDirections(cfg *Config) *Config {
	cfg.Directions = []string{"receive", "transmit"}
	return cfg
}

// TestPodResources: in one scrape, eth0, a pod's, in a resource of its own
// with k8s.pod.ip and in the pod's view of direction, and eth1, of no pod,
// in the node's resource as ever, in its own view.
func TestPodResources(t *testing.T) {
	k, clk, p := newFakeKernel(), newFakeClock(), &fakePods{}
	p.initial = []pods.Event{{Index: k.links["eth0"], IPs: []netip.Addr{podA}}}
	s := newPodScraper(t, k, clk, bothDirections(testConfig("eth0", "eth1")), p)
	attached := clk.at(0)
	require.NoError(t, startListed(t, s, newStatusHost()))
	waitPod(t, s, k.links["eth0"], "198.18.0.10")

	k.addDir(t, "eth0", bpf.Receive, ipv4TCP, 3, 100)   // the pod sent these
	k.addDir(t, "eth0", bpf.Transmit, ipv4TCP, 2, 1500) // the pod received these
	k.addDir(t, "eth1", bpf.Receive, ipv4TCP, 4, 100)
	k.addDir(t, "eth1", bpf.Transmit, arp, 1, 42)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	requireGolden(t, "pods_resources", md)
	assert.Equal(t, []string{"", "198.18.0.10"}, podsOf(t, md))

	l := newPodLedger()
	l.add(t, md, func(podSeries) pcommon.Timestamp { return attached })
	for key, want := range map[podSeries]int64{
		{"198.18.0.10", seriesKey{"xdp.packets", "eth0", "transmit", "ipv4", "tcp"}}: 3,
		{"198.18.0.10", seriesKey{"xdp.packets", "eth0", "receive", "ipv4", "tcp"}}:  2,
		{"198.18.0.10", seriesKey{"xdp.bytes", "eth0", "receive", "ipv4", "tcp"}}:    3000,
		{"", seriesKey{"xdp.packets", "eth1", "receive", "ipv4", "tcp"}}:             4,
		{"", seriesKey{"xdp.packets", "eth1", "transmit", "arp", "none"}}:            1,
	} {
		assert.Equal(t, want, l.sum[key], "%v", key)
	}
	assert.Len(t, l.sum, 8, "series: eth0's two and eth1's two, of both metrics")
}

// TestPodNoPodUnchanged: with pods followed and no interface of a pod, the
// scrape is the one without pods, golden file and all.
func TestPodNoPodUnchanged(t *testing.T) {
	k, clk, p := newFakeKernel(), newFakeClock(), &fakePods{}
	s := newPodScraper(t, k, clk, bothDirections(testConfig("eth0")), p)
	clk.at(0)
	require.NoError(t, startListed(t, s, newStatusHost()))
	k.addDir(t, "eth0", bpf.Receive, ipv4TCP, 3, 100)
	k.addDir(t, "eth0", bpf.Transmit, ipv4TCP, 2, 1500)
	k.addDir(t, "eth0", bpf.Transmit, arp, 1, 42)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	requireGolden(t, "both_directions", md)
}

// TestPodChange: eth0's pod changes between two scrapes. Its series under
// the old pod end at the change, their last points come with the next
// scrape, and the new pod's start exactly there: every packet is counted
// once, on the right side of the change.
func TestPodChange(t *testing.T) {
	k, clk, p, s, attached := startInPodA(t, bothDirections(testConfig("eth0")))
	eth0 := k.links["eth0"]
	l := newPodLedger()
	var changed pcommon.Timestamp
	first := func(k podSeries) pcommon.Timestamp {
		if k.pod == "198.18.0.11" {
			return changed
		}
		return attached
	}
	scrape := func(sec int) pmetric.Metrics {
		t.Helper()
		clk.at(sec)
		md, err := s.scrape(t.Context())
		require.NoError(t, err)
		l.add(t, md, first)
		return md
	}

	k.addDir(t, "eth0", bpf.Transmit, ipv4TCP, 10, 100)
	assert.Equal(t, []string{"198.18.0.10"}, podsOf(t, scrape(10)))

	k.addDir(t, "eth0", bpf.Transmit, ipv4TCP, 5, 100) // before the change: pod A's
	changed = clk.at(15)
	p.send(t, s, eth0, podB)
	k.addDir(t, "eth0", bpf.Transmit, ipv4TCP, 7, 100) // after: pod B's
	k.addDir(t, "eth0", bpf.Receive, ipv4TCP, 1, 100)
	md := scrape(20)
	requireGolden(t, "pods_change", md)
	assert.Equal(t, []string{"198.18.0.10", "198.18.0.11"}, podsOf(t, md), "the old pod's last points, then the new pod's")

	k.addDir(t, "eth0", bpf.Transmit, ipv4TCP, 2, 100)
	assert.Equal(t, []string{"198.18.0.11"}, podsOf(t, scrape(30)), "the old pod's series ended")

	a := seriesKey{"xdp.packets", "eth0", "receive", "ipv4", "tcp"}
	assert.Equal(t, int64(15), l.sum[podSeries{"198.18.0.10", a}])
	assert.Equal(t, int64(9), l.sum[podSeries{"198.18.0.11", a}])
	assert.Equal(t, int64(900), l.sum[podSeries{"198.18.0.11", seriesKey{"xdp.bytes", "eth0", "receive", "ipv4", "tcp"}}])
	assert.Equal(t, int64(1), l.sum[podSeries{"198.18.0.11", seriesKey{"xdp.packets", "eth0", "transmit", "ipv4", "tcp"}}])
	assert.Equal(t, changed, l.last[podSeries{"198.18.0.10", a}], "the old series ends at the change")
}

// TestPodRemoved: eth0's pod goes, its veth stays: its series go back to
// the node's resource, as new series from the moment the pod went, in the
// interface's view of direction.
func TestPodRemoved(t *testing.T) {
	k, clk, p, s, attached := startInPodA(t, testConfig("eth0"))
	eth0 := k.links["eth0"]
	l := newPodLedger()
	var removed pcommon.Timestamp
	first := func(k podSeries) pcommon.Timestamp {
		if k.pod == "" {
			return removed
		}
		return attached
	}

	k.add(t, "eth0", ipv4TCP, 4, 100)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	l.add(t, md, first)
	assert.Equal(t, []string{"198.18.0.10"}, podsOf(t, md))

	k.add(t, "eth0", ipv4TCP, 1, 100)
	removed = clk.at(12)
	p.send(t, s, eth0)
	k.add(t, "eth0", ipv4TCP, 6, 100)
	clk.at(20)
	md, err = s.scrape(t.Context())
	require.NoError(t, err)
	l.add(t, md, first)
	assert.Equal(t, []string{"", "198.18.0.10"}, podsOf(t, md), "the node's new series, and the pod's last points")

	assert.Equal(t, int64(5), l.sum[podSeries{"198.18.0.10", seriesKey{"xdp.packets", "eth0", "transmit", "ipv4", "tcp"}}],
		"the pod's view: what the host end received, the pod sent")
	assert.Equal(t, int64(6), l.sum[podSeries{"", seriesKey{"xdp.packets", "eth0", "receive", "ipv4", "tcp"}}],
		"the interface's view again")
	assert.Len(t, l.sum, 4)
}

// TestPodDualStack: a dual-stack pod is known by the address of
// pods.ip_family.
func TestPodDualStack(t *testing.T) {
	for family, want := range map[string]string{"ipv4": "198.18.0.10", "ipv6": "2001:db8::a"} {
		t.Run(family, func(t *testing.T) {
			k, clk, p := newFakeKernel(), newFakeClock(), &fakePods{}
			p.initial = []pods.Event{{Index: k.links["eth0"], IPs: []netip.Addr{podA, podA6}}}
			cfg := testConfig("eth0")
			cfg.Pods.IPFamily = family
			s := newPodScraper(t, k, clk, cfg, p)
			clk.at(0)
			require.NoError(t, startListed(t, s, newStatusHost()))
			waitPod(t, s, k.links["eth0"], want)
			k.add(t, "eth0", ipv6UDP, 2, 100)
			clk.at(10)
			md, err := s.scrape(t.Context())
			require.NoError(t, err)
			assert.Equal(t, []string{want}, podsOf(t, md))
		})
	}
}

// TestPodsDisabled: with pods.enabled false, or k8s.pod.ip disabled, pods
// are not followed, and every interface is the node's, in its own view.
func TestPodsDisabled(t *testing.T) {
	for name, disable := range map[string]func(*Config){
		"pods.enabled": func(c *Config) { c.Pods.Enabled = false },
		"k8s.pod.ip":   func(c *Config) { c.ResourceAttributes.K8sPodIP.Enabled = false },
	} {
		t.Run(name, func(t *testing.T) {
			k, clk, p := newFakeKernel(), newFakeClock(), &fakePods{}
			p.initial = []pods.Event{{Index: k.links["eth0"], IPs: []netip.Addr{podA}}}
			cfg := bothDirections(testConfig("eth0"))
			disable(cfg)
			s := newPodScraper(t, k, clk, cfg, p)
			clk.at(0)
			require.NoError(t, startListed(t, s, newStatusHost()))
			k.addDir(t, "eth0", bpf.Receive, ipv4TCP, 3, 100)
			k.addDir(t, "eth0", bpf.Transmit, ipv4TCP, 2, 1500)
			k.addDir(t, "eth0", bpf.Transmit, arp, 1, 42)
			clk.at(10)
			md, err := s.scrape(t.Context())
			require.NoError(t, err)
			requireGolden(t, "both_directions", md)
			p.mu.Lock()
			defer p.mu.Unlock()
			assert.Zero(t, p.watches, "pods are not followed")
		})
	}
}

// TestPodKnownBeforeAttach: a pod's interface that a pattern matches after
// its pod is known counts as the pod's from its attachment on, with no
// series of the node's.
func TestPodKnownBeforeAttach(t *testing.T) {
	k, clk, p := newFakeKernel(), newFakeClock(), &fakePods{}
	s := newPodScraper(t, k, clk, testConfig("veth*"), p)
	clk.at(0)
	require.NoError(t, startListed(t, s, newStatusHost()))
	k.mu.Lock()
	next := k.nextIndex
	k.mu.Unlock()
	p.send(t, s, next, podA)
	attached := clk.at(5)
	require.Equal(t, next, k.addLink("veth0"))
	require.Eventually(t, func() bool { return k.attachCount() == 1 }, 10*time.Second, time.Millisecond)
	k.add(t, "veth0", ipv4TCP, 2, 100)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"198.18.0.10"}, podsOf(t, md))
	l := newPodLedger()
	l.add(t, md, func(podSeries) pcommon.Timestamp { return attached })
	assert.Equal(t, int64(2), l.sum[podSeries{"198.18.0.10", seriesKey{"xdp.packets", "veth0", "transmit", "ipv4", "tcp"}}])
}

// TestPodWatchFails: a pod watch that cannot start leaves the receiver
// counting, every interface as the node's, with a recoverable status, and
// is started again until it works: then the status is OK again and the
// pods it lists are attributed.
func TestPodWatchFails(t *testing.T) {
	errFake := errors.New("fake: no netlink")
	k, clk := newFakeKernel(), newFakeClock()
	eth0 := k.links["eth0"]
	p := &fakePods{err: errFake, failures: 3, initial: []pods.Event{{Index: eth0, IPs: []netip.Addr{podA}}}}
	s := newPodScraper(t, k, clk, testConfig("eth0"), p)
	s.pods.retry = time.Millisecond
	host := newStatusHost()
	clk.at(0)
	require.NoError(t, startListed(t, s, host))
	waitPod(t, s, eth0, podA.String())
	p.mu.Lock()
	assert.Equal(t, 4, p.watches, "three watches failed, the fourth started")
	p.mu.Unlock()
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())
	require.NoError(t, s.shutdown(t.Context()))
}

// TestPodWatchNeverStarts: while the pod watch cannot start, the receiver
// counts every interface as the node's, and says why in its status.
func TestPodWatchNeverStarts(t *testing.T) {
	errFake := errors.New("fake: no netlink")
	k, clk, p := newFakeKernel(), newFakeClock(), &fakePods{err: errFake, failures: -1}
	s := newPodScraper(t, k, clk, testConfig("eth0"), p)
	host := newStatusHost()
	clk.at(0)
	require.NoError(t, startListed(t, s, host))
	k.add(t, "eth0", ipv4TCP, 2, 100)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{""}, podsOf(t, md))
	require.Equal(t, componentstatus.StatusRecoverableError, host.last().Status())
	assert.ErrorIs(t, host.last().Err(), errFake)
	require.NoError(t, s.shutdown(t.Context()))
}

// TestPodWatchEndsAndRenews: a started pod watch that stops following
// (its subscription failed) makes the status recoverable until it says it
// follows again.
func TestPodWatchEndsAndRenews(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	p := &fakePods{initial: []pods.Event{{Index: k.links["eth0"], IPs: []netip.Addr{podA}}}}
	s := newPodScraper(t, k, clk, testConfig("eth0"), p)
	host := newStatusHost()
	clk.at(0)
	require.NoError(t, startListed(t, s, host))
	waitPod(t, s, k.links["eth0"], podA.String())
	p.mu.Lock()
	onErr := p.onErr
	p.mu.Unlock()
	errFake := errors.New("fake: receive netlink messages: no buffer space")
	onErr(errFake)
	require.Equal(t, componentstatus.StatusRecoverableError, host.last().Status())
	assert.ErrorIs(t, host.last().Err(), errFake)
	onErr(nil)
	assert.Equal(t, componentstatus.StatusOK, host.last().Status())
	require.NoError(t, s.shutdown(t.Context()))
}

// TestPodProgram: a user's program's counts on a pod's interface, too, go
// to the pod's resource, and split when the pod changes.
func TestPodProgram(t *testing.T) {
	k, clk, p, s, attached := startInPodA(t, programConfig("eth0", "eth1"))
	eth0 := k.links["eth0"]
	k.addKey(t, "eth0", 0, 3)
	k.addKey(t, "eth1", 0, 4)
	changed := clk.at(5)
	p.send(t, s, eth0, podB)
	k.addKey(t, "eth0", 0, 2)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"", "198.18.0.10", "198.18.0.11"}, podsOf(t, md))
	sums := map[string]int64{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		v, _ := rm.Resource().Attributes().Get(keyPod)
		one := pmetric.NewMetrics()
		rm.CopyTo(one.ResourceMetrics().AppendEmpty())
		forEachPoint(one, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
			require.Equal(t, "xdp.program.count", m.Name())
			iface, _ := dp.Attributes().Get("network.interface.name")
			want := attached
			if v.Str() == "198.18.0.11" {
				want = changed
			}
			assert.Equal(t, want, dp.StartTimestamp(), "%s %s", v.Str(), iface.Str())
			sums[v.Str()+" "+iface.Str()] += dp.IntValue()
		})
	}
	assert.Equal(t, map[string]int64{" eth1": 4, "198.18.0.10 eth0": 3, "198.18.0.11 eth0": 2}, sums)
}

// TestPodWatchStopDuringListing: shutdown while the pod watch still sends
// its initial listing returns, and leaves no goroutine blocked.
func TestPodWatchStopDuringListing(t *testing.T) {
	k, clk, p := newFakeKernel(), newFakeClock(), &fakePods{}
	for i := range 20 * eventBuffer {
		p.initial = append(p.initial, pods.Event{Index: 10000 + i, IPs: []netip.Addr{podA}})
	}
	s := newPodScraper(t, k, clk, testConfig("eth0"), p)
	require.NoError(t, startListed(t, s, newStatusHost()))
	stopped := make(chan error)
	go func() { stopped <- s.shutdown(t.Context()) }()
	select {
	case err := <-stopped:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown hangs while the pod watch sends its listing")
	}
}
