package xdpreceiver

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
)

// newPatternScraper is a scraper on the fake kernel with the given
// interfaces and exclusions, started on host.
func newPatternScraper(t *testing.T, k *fakeKernel, clk *fakeClock, id component.ID, host component.Host, include, exclude []string) *xdpScraper {
	t.Helper()
	cfg := testConfig(include...)
	cfg.ExcludeInterfaces = exclude
	require.NoError(t, cfg.Validate())
	set := receivertest.NewNopSettings(component.MustNewType("xdp"))
	set.ID = id
	s := newScraper(cfg, set, k.kernel(), clk.now)
	t.Cleanup(func() { _ = s.shutdown(t.Context()) })
	require.NoError(t, startListed(t, s, host))
	return s
}

func eventually(t *testing.T, cond func() bool, msg string) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, time.Millisecond, msg)
}

func ts(sec int) pcommon.Timestamp {
	return pcommon.NewTimestampFromTime(epoch.Add(time.Duration(sec) * time.Second))
}

// points returns md's points of one metric and interface, by class.
func points(md pmetric.Metrics, metric, iface string) map[string]pmetric.NumberDataPoint {
	out := map[string]pmetric.NumberDataPoint{}
	forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		if k := keyOf(m, dp); k.metric == metric && k.iface == iface {
			out[k.network+"/"+k.transport] = dp
		}
	})
	return out
}

// TestPatternFollowsLinks starts with a pattern that matches nothing, then
// has interfaces appear, go and come back: each matching one is attached
// when it appears, its series end with a last delta when it goes, and
// start afresh, at the new attachment, when it returns. Excluded and
// unmatched interfaces are left alone.
func TestPatternFollowsLinks(t *testing.T) {
	k, clk, host := newFakeKernel(), newFakeClock(), newStatusHost()
	clk.at(0)
	s := newPatternScraper(t, k, clk, component.MustNewID("xdp"), host, []string{"veth*"}, []string{"veth9"})
	md, err := s.scrape(t.Context())
	require.NoError(t, err, "a pattern that matches nothing is no fault")
	assert.Zero(t, md.DataPointCount())
	assert.Empty(t, k.attaches)

	clk.at(5)
	for _, name := range []string{"veth0", "veth9", "eth7", "veth1"} {
		k.addLink(name)
	}
	eventually(t, func() bool { return k.attachCount() == 2 }, "veth0 and veth1 attached")
	assert.ElementsMatch(t, []string{"veth0", "veth1"}, k.attaches, "veth9 is excluded, eth7 not matched")
	k.addLink("veth0") // a change of a counted link: nothing to do
	k.add(t, "veth0", ipv4TCP, 4, 100)
	k.add(t, "veth1", arp, 1, 60)
	clk.at(10)
	md, err = s.scrape(t.Context())
	require.NoError(t, err)
	p := points(md, "xdp.packets", "veth0")["ipv4/tcp"]
	assert.Equal(t, int64(4), p.IntValue())
	assert.Equal(t, ts(5), p.StartTimestamp(), "the first point starts at attachment")

	// veth0 counts more, then goes: its last delta comes with the next
	// scrape, ending when it was read.
	k.add(t, "veth0", ipv4TCP, 3, 100)
	clk.at(12)
	k.delLink("veth0")
	eventually(t, func() bool { return k.closes("veth0") == 1 }, "veth0's attachment closed")
	clk.at(20)
	md, err = s.scrape(t.Context())
	require.NoError(t, err, "an interface matched by a pattern may go")
	p = points(md, "xdp.packets", "veth0")["ipv4/tcp"]
	assert.Equal(t, int64(3), p.IntValue())
	assert.Equal(t, ts(10), p.StartTimestamp())
	assert.Equal(t, ts(12), p.Timestamp())
	assert.Len(t, points(md, "xdp.packets", "veth1"), 1)
	clk.at(30)
	md, err = s.scrape(t.Context())
	require.NoError(t, err)
	assert.Empty(t, points(md, "xdp.packets", "veth0"), "veth0's series ended")

	// veth0 comes back, a new interface: new series from its attachment,
	// not a continuation subtracted from the old counts.
	clk.at(35)
	k.addLink("veth0")
	eventually(t, func() bool { return k.attachCount() == 3 }, "veth0 attached again")
	k.add(t, "veth0", ipv4TCP, 2, 100)
	clk.at(40)
	md, err = s.scrape(t.Context())
	require.NoError(t, err)
	p = points(md, "xdp.packets", "veth0")["ipv4/tcp"]
	assert.Equal(t, int64(2), p.IntValue())
	assert.Equal(t, ts(35), p.StartTimestamp())
	assert.Empty(t, host.statuses(), "nothing configured was ever missing")
}

// TestPatternForeignProgram has a foreign program on one interface matched
// by a pattern: it is reported, naming interface and program, left alone,
// and the other interfaces are served; once it is gone the interface is
// attached at the next scrape.
func TestPatternForeignProgram(t *testing.T) {
	k, clk, host := newFakeKernel(), newFakeClock(), newStatusHost()
	k.addLink("veth0")
	k.addLink("veth1")
	k.attachErrs["veth1"] = &bpf.ForeignProgramError{Interface: "veth1", ProgramID: 42}
	s := newPatternScraper(t, k, clk, component.MustNewID("xdp"), host, []string{"veth?"}, nil)
	assert.Equal(t, []string{"veth0"}, k.attaches)
	k.add(t, "veth0", arp, 1, 60)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	assert.Len(t, points(md, "xdp.packets", "veth0"), 1)
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses())
	assert.ErrorContains(t, host.last().Err(), `interface "veth1" already has XDP program id 42 attached`)
	_, err = s.scrape(t.Context())
	require.NoError(t, err)
	assert.Len(t, host.statuses(), 1, "reported once")

	delete(k.attachErrs, "veth1")
	_, err = s.scrape(t.Context())
	require.NoError(t, err)
	assert.Equal(t, []string{"veth0", "veth1"}, k.attaches)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())
}

// TestDetachedFromOutsideFake detaches a counter while its interface
// stays: the last delta is emitted, the fault reported, and the next
// scrape attaches again, with series starting at the new attachment.
func TestDetachedFromOutsideFake(t *testing.T) {
	k, clk, host := newFakeKernel(), newFakeClock(), newStatusHost()
	clk.at(0)
	s := newPatternScraper(t, k, clk, component.MustNewID("xdp"), host, []string{"eth0"}, nil)
	k.add(t, "eth0", ipv4TCP, 5, 100)
	k.detach("eth0")
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err, "it counted in the interval: whether it is still attached is asked once it is idle")
	assert.Equal(t, int64(5), points(md, "xdp.packets", "eth0")["ipv4/tcp"].IntValue())
	clk.at(15)
	md, err = s.scrape(t.Context())
	require.ErrorContains(t, err, `the programs counting "eth0" were detached from outside the collector`)
	assert.Equal(t, int64(0), points(md, "xdp.packets", "eth0")["ipv4/tcp"].IntValue(), "the series end with a last point")
	assert.Equal(t, 1, k.closes("eth0"))
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses())

	clk.at(20)
	md, err = s.scrape(t.Context())
	require.NoError(t, err)
	assert.Zero(t, md.DataPointCount(), "the new attachment reports from the next scrape on")
	assert.Equal(t, []string{"eth0", "eth0"}, k.attaches)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())
	k.add(t, "eth0", ipv4TCP, 1, 100)
	clk.at(30)
	md, err = s.scrape(t.Context())
	require.NoError(t, err)
	p := points(md, "xdp.packets", "eth0")["ipv4/tcp"]
	assert.Equal(t, int64(1), p.IntValue(), "counted from the new attachment, not subtracted from the old counts")
	assert.Equal(t, ts(20), p.StartTimestamp())
}

// TestWatchRenewed ends the link subscription as an overflow would: the
// status says so, and the next scrape subscribes again and catches up
// with an interface that appeared meanwhile and one that went.
func TestWatchRenewed(t *testing.T) {
	k, clk, host := newFakeKernel(), newFakeClock(), newStatusHost()
	k.addLink("veth0")
	s := newPatternScraper(t, k, clk, component.MustNewID("xdp"), host, []string{"veth*"}, nil)
	require.Equal(t, []string{"veth0"}, k.attaches)
	k.end()
	eventually(t, func() bool { return len(host.statuses()) == 1 }, "the ended subscription is reported")
	assert.ErrorContains(t, host.last().Err(), "the netlink subscription to interface changes ended")
	k.addLink("veth1") // nobody hears of these
	k.delLink("veth0")

	_, err := s.scrape(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, k.closes("veth0"), "the scrape that renews the subscription finds veth0 gone")
	// What appeared meanwhile is attached in the background, as at start.
	eventually(t, func() bool { return k.attachCount() == 2 }, "veth1 attached")
	assert.Equal(t, []string{"veth0", "veth1"}, k.attaches)
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())
	k.addLink("veth2")
	eventually(t, func() bool { return k.attachCount() == 3 }, "followed again")
}

// TestDeleteDuringScrape deletes interfaces while scrapes run: whichever
// of the scrape and the link change sees the loss first, each series'
// points add up to exactly what was counted, once.
func TestDeleteDuringScrape(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	s := newPatternScraper(t, k, clk, component.MustNewID("xdp"), newStatusHost(), []string{"veth*"}, nil)
	sum := map[string]int64{}
	for round := range 50 {
		k.addLink("veth0")
		eventually(t, func() bool { return k.attachCount() == round+1 }, "attached")
		k.add(t, "veth0", ipv4TCP, 1, 100)
		done := make(chan struct{})
		go func() {
			defer close(done)
			k.add(t, "veth0", ipv4TCP, 2, 100)
			k.delLink("veth0")
		}()
		for range 3 {
			md, err := s.scrape(t.Context())
			require.NoError(t, err)
			for _, p := range points(md, "xdp.packets", "veth0") {
				sum["veth0"] += p.IntValue()
			}
		}
		<-done
		eventually(t, func() bool { return k.closes("veth0") == 1 }, "closed")
		md, err := s.scrape(t.Context())
		require.NoError(t, err)
		for _, p := range points(md, "xdp.packets", "veth0") {
			sum["veth0"] += p.IntValue()
		}
		require.Equal(t, int64(3*(round+1)), sum["veth0"], "round %d", round)
	}
}

// TestScrapeSeesRecreatedFirst has an interface deleted and created again
// before the link changes are handled: the scrape that finds its counter
// detached emits the last counts and attaches to the new interface, with
// no fault reported, rather than taking it for a link detached from
// outside.
func TestScrapeSeesRecreatedFirst(t *testing.T) {
	k, clk, host := newFakeKernel(), newFakeClock(), newStatusHost()
	k.addLink("veth0")
	s := newPatternScraper(t, k, clk, component.MustNewID("xdp"), host, []string{"veth*"}, nil)
	k.add(t, "veth0", ipv4TCP, 3, 100)
	// Deleted and created again behind the watch's back: the fake tells
	// nobody while no one is subscribed.
	k.end()
	eventually(t, func() bool { return len(host.statuses()) == 1 }, "the ended subscription is reported")
	k.delLink("veth0")
	k.addLink("veth0")
	s.mu.Lock()
	// The scrapes, before the subscription is renewed: the first reads
	// what veth0 counted, the second finds it idle and asks the kernel.
	var md pmetric.Metrics
	for range 2 {
		require.NoError(t, s.src.collect())
		if s.life.read(s.found.ifaces["veth0"], false) {
			s.found.stopped(s.found.ifaces["veth0"])
			s.life.emitEnded()
		}
		md = s.em.take()
	}
	ifc := s.found.ifaces["veth0"]
	s.mu.Unlock()
	assert.Equal(t, int64(0), points(md, "xdp.packets", "veth0")["ipv4/tcp"].IntValue(), "the old interface's last point")
	require.NotNil(t, ifc)
	assert.Nil(t, ifc.err, "a re-created interface is no fault")
	assert.Equal(t, []string{"veth0", "veth0"}, k.attaches, "attached to the new interface")
}

// TestPatternRename renames counted interfaces: one renamed out of the
// pattern has its series end and is detached; one renamed into it is
// attached under its new name.
func TestPatternRename(t *testing.T) {
	k, clk, host := newFakeKernel(), newFakeClock(), newStatusHost()
	k.addLink("veth0")
	s := newPatternScraper(t, k, clk, component.MustNewID("xdp"), host, []string{"veth*"}, nil)
	k.add(t, "veth0", arp, 2, 60)
	k.rename("veth0", "wan0")
	eventually(t, func() bool { return k.closes("veth0") == 1 }, "detached from the renamed interface")
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int64(2), points(md, "xdp.packets", "veth0")["arp/none"].IntValue(), "its last counts, under the old name")
	k.rename("eth2", "veth5")
	eventually(t, func() bool { return k.attachCount() == 2 }, "attached under its new name")
	assert.Equal(t, []string{"veth0", "veth5"}, k.attaches)
	assert.Empty(t, host.statuses())
}

// TestPatternsAttachInBackground: start attaches the exact names, and
// returns while what patterns match is still being attached, one interface
// at a time; a shutdown meanwhile waits for the attach in flight only,
// abandons the rest of the listing, and leaves nothing attached.
func TestPatternsAttachInBackground(t *testing.T) {
	k := newFakeKernel()
	for i := range 10 {
		k.addLink(fmt.Sprintf("veth%d", i))
	}
	gate := make(chan struct{})
	k.gates = map[string]chan struct{}{"veth1": gate}
	s := newScraper(testConfig("eth0", "veth*"), nopSettings(), k.kernel(), newFakeClock().now)
	require.NoError(t, s.start(t.Context(), newStatusHost()))
	eventually(t, func() bool { return k.attachCount() == 2 }, "eth0, then veth0 attached")
	assert.Equal(t, []string{"eth0", "veth0"}, k.attaches[:2], "the exact name first, at start")

	stopped := make(chan error)
	go func() { stopped <- s.shutdown(t.Context()) }()
	time.Sleep(20 * time.Millisecond) // shutdown waits for the attach in flight
	select {
	case err := <-stopped:
		t.Fatalf("shutdown returned while an attach was in flight: %v", err)
	default:
	}
	close(gate)
	require.NoError(t, <-stopped)
	k.mu.Lock()
	defer k.mu.Unlock()
	assert.Equal(t, []string{"eth0", "veth0", "veth1"}, k.attaches, "the rest of the listing abandoned")
	for name, c := range k.counters {
		assert.Equal(t, 1, c.releases, "%s released", name)
	}
}

// TestLinkEventsEmitNoPoints: a link event that ends an attachment reads
// its last counts, at once, but emits nothing: the next collection does,
// its points ending when the counts were read; and at shutdown the final
// collection does. Exactly named or matched by a pattern, nothing is lost
// and nothing counted twice.
func TestLinkEventsEmitNoPoints(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	k.addLink("veth0")
	k.addLink("veth1")
	clk.at(0)
	s := newConfiguredScraper(t, k, clk, testConfig("eth0", "veth*"))
	sink := new(consumertest.MetricsSink)
	s.next = sink
	require.NoError(t, startListed(t, s, newStatusHost()))
	k.add(t, "eth0", ipv4TCP, 1, 100)
	k.add(t, "veth0", ipv4TCP, 3, 100)
	k.add(t, "veth1", arp, 2, 60)
	emitted := func() int {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.em.points
	}

	clk.at(5)
	k.delLink("veth0")
	k.delLink("eth0")
	eventually(t, func() bool { return k.closes("veth0") == 1 && k.closes("eth0") == 1 }, "both released")
	assert.Zero(t, emitted(), "the watch emitted points")
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.ErrorContains(t, err, `interface "eth0" is gone`)
	for _, name := range []string{"eth0", "veth0"} {
		last := points(md, metricPackets, name)["ipv4/tcp"]
		assert.Equal(t, ts(0), last.StartTimestamp(), "%s: its last point starts at its attachment", name)
		assert.Equal(t, ts(5), last.Timestamp(), "%s: and ends at the read after it went", name)
	}
	assert.Equal(t, int64(1), points(md, metricPackets, "eth0")["ipv4/tcp"].IntValue())
	assert.Equal(t, int64(3), points(md, metricPackets, "veth0")["ipv4/tcp"].IntValue())
	assert.Equal(t, int64(2), points(md, metricPackets, "veth1")["arp/none"].IntValue())
	md, err = s.scrape(t.Context())
	require.Error(t, err)
	assert.Empty(t, points(md, metricPackets, "veth0"), "emitted once")

	k.add(t, "veth1", arp, 4, 60)
	clk.at(15)
	k.delLink("veth1")
	eventually(t, func() bool { return k.closes("veth1") == 1 }, "veth1 released")
	assert.Zero(t, emitted(), "the watch emitted points")
	clk.at(20)
	require.NoError(t, s.shutdown(t.Context()))
	require.Len(t, sink.AllMetrics(), 1, "the final collection is handed on")
	last := points(sink.AllMetrics()[0], metricPackets, "veth1")["arp/none"]
	assert.Equal(t, int64(4), last.IntValue(), "what veth1 counted after the last scrape, at shutdown")
	assert.Equal(t, [2]pcommon.Timestamp{ts(10), ts(15)}, [2]pcommon.Timestamp{last.StartTimestamp(), last.Timestamp()})
}

// TestWatchHandsOn: a watch hands the listing made when it subscribed, in
// name order, then each event, to its one function, from one goroutine;
// when the subscription ends by itself it says so, and when it is stopped
// it does not.
func TestWatchHandsOn(t *testing.T) {
	k := newFakeKernel()
	var mu sync.Mutex
	var got []string
	ended := make(chan struct{})
	handle := func(e links.Event) int {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%v %s", e.Type == links.Added, e.Link.Name))
		return 1
	}
	handed := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	w, err := follow(k, zap.NewNop())
	require.NoError(t, err)
	go w.run(handle, func() { close(ended) }, zap.NewNop())
	<-w.listed
	assert.Equal(t, []string{"true eth0", "true eth1", "true eth2", "true lo"}, handed(), "the listing, in name order")
	k.addLink("veth0")
	k.delLink("eth1")
	eventually(t, func() bool { return len(handed()) == 6 }, "the events handed on")
	assert.Equal(t, []string{"true veth0", "false eth1"}, handed()[4:])
	k.end()
	<-ended
	w.stop()

	w, err = follow(k, zap.NewNop())
	require.NoError(t, err)
	go w.run(handle, func() { t.Error("a stopped watch says it ended by itself") }, zap.NewNop())
	w.stop()
	k.mu.Lock()
	k.subErr = errors.New("fake: no netlink")
	k.mu.Unlock()
	_, err = follow(k, zap.NewNop())
	require.ErrorContains(t, err, "following network interfaces through netlink: fake: no netlink")
}
