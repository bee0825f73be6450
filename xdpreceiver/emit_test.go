package xdpreceiver

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// TestScrapeDisabledMetric disables xdp.bytes: a scrape emits xdp.packets
// alone, as the golden file holds it.
func TestScrapeDisabledMetric(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	cfg := testConfig("eth0")
	cfg.Metrics.XdpBytes.Enabled = false
	s := newConfiguredScraper(t, k, clk, cfg)
	clk.at(0)
	require.NoError(t, startListed(t, s, newStatusHost()))
	k.add(t, "eth0", other, 2, 70)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	requireGolden(t, "bytes_disabled", md)
}

// TestScrapeAggregatedClasses disables network.type on xdp.packets: IPv4
// and IPv6 TCP are summed into one series per interface, emitted without
// network.type, whose points must stay contiguous when IPv6 appears after
// IPv4.
func TestScrapeAggregatedClasses(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	cfg := testConfig("eth0")
	cfg.Metrics.XdpPackets.EnabledAttributes = []metadata.XdpPacketsMetricAttributeKey{
		metadata.XdpPacketsMetricAttributeKeyNetworkInterfaceName,
		metadata.XdpPacketsMetricAttributeKeyNetworkIoDirection,
		metadata.XdpPacketsMetricAttributeKeyNetworkTransport,
	}
	cfg.Metrics.XdpBytes.Enabled = false
	require.NoError(t, cfg.Metrics.XdpPackets.Validate())
	s := newConfiguredScraper(t, k, clk, cfg)
	attached := clk.at(0)
	require.NoError(t, startListed(t, s, newStatusHost()))
	l := newLedger()
	k.add(t, "eth0", ipv4TCP, 1, 100)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	l.add(t, md, func(string) pcommon.Timestamp { return attached })

	k.add(t, "eth0", ipv4TCP, 1, 100)
	k.add(t, "eth0", bpf.Class{Network: bpf.IPv6, Transport: bpf.TCP}, 2, 100)
	clk.at(20)
	md, err = s.scrape(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, md.DataPointCount(), "IPv4 and IPv6 TCP summed into one point")
	l.add(t, md, nil)
	assert.Equal(t, int64(4), l.sum[seriesKey{"xdp.packets", "eth0", "receive", "", "tcp"}])
}

// newDefaultEmitter is the emitter of the default metrics configuration,
// changed by edit.
func newDefaultEmitter(edit func(*metadata.MetricsBuilderConfig)) *emitter {
	cfg := metadata.NewDefaultMetricsBuilderConfig()
	if edit != nil {
		edit(&cfg)
	}
	return newEmitter(cfg, nopSettings())
}

var ipv4TCPAttrs = classAttrs[ipv4TCP.Index()]

// TestEmitterEmptyCollection: a collection without points is empty pdata,
// without a resource or scope, before and after collections with points.
func TestEmitterEmptyCollection(t *testing.T) {
	e := newDefaultEmitter(nil)
	assert.Zero(t, e.take().ResourceMetrics().Len())
	e.counter(e.packets, 1, 2, 5, "eth0", "receive", ipv4TCPAttrs)
	require.Equal(t, 1, e.take().DataPointCount())
	assert.Zero(t, e.take().ResourceMetrics().Len())
}

// TestEmitterMetrics: a collection holds the metrics that have points, and
// only those, each with its metadata.yaml description: name, unit, a
// monotonic delta sum, in the receiver's scope; each point carries its
// interval, value and attributes.
func TestEmitterMetrics(t *testing.T) {
	e := newDefaultEmitter(nil)
	e.counter(e.packets, 10, 20, 7, "eth0", "transmit", ipv4TCPAttrs)
	e.program(10, 20, 3, "eth1", "dropped")
	md := e.take()
	require.Equal(t, 1, md.ResourceMetrics().Len())
	sms := md.ResourceMetrics().At(0).ScopeMetrics()
	require.Equal(t, 1, sms.Len())
	assert.Equal(t, metadata.ScopeName, sms.At(0).Scope().Name())
	ms := sms.At(0).Metrics()
	require.Equal(t, 2, ms.Len(), "xdp.bytes has no point: left out")
	units := map[string]string{}
	for i := range ms.Len() {
		m := ms.At(i)
		units[m.Name()] = m.Unit()
		assert.Equal(t, pmetric.AggregationTemporalityDelta, m.Sum().AggregationTemporality(), m.Name())
		assert.True(t, m.Sum().IsMonotonic(), m.Name())
		require.Equal(t, 1, m.Sum().DataPoints().Len(), m.Name())
		dp := m.Sum().DataPoints().At(0)
		assert.Equal(t, pcommon.Timestamp(10), dp.StartTimestamp())
		assert.Equal(t, pcommon.Timestamp(20), dp.Timestamp())
	}
	assert.Equal(t, map[string]string{metricPackets: "{packet}", metricProgramCount: "{count}"}, units)
	forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		switch m.Name() {
		case metricPackets:
			assert.Equal(t, int64(7), dp.IntValue())
			assert.Equal(t, map[string]any{keyInterface: "eth0", keyDirection: "transmit", keyNetwork: "ipv4", keyTransport: "tcp"},
				dp.Attributes().AsRaw())
		case metricProgramCount:
			assert.Equal(t, int64(3), dp.IntValue())
			assert.Equal(t, map[string]any{keyInterface: "eth1", keyProgKey: "dropped"}, dp.Attributes().AsRaw())
		}
	})
}

// TestEmitterAttributeGroups: a point of a group without network.type or
// network.transport (the attribute disabled) carries no such attribute,
// rather than an empty one.
func TestEmitterAttributeGroups(t *testing.T) {
	e := newDefaultEmitter(nil)
	for _, withNetwork := range []bool{true, false} {
		for _, withTransport := range []bool{true, false} {
			g := newClassGroups(withNetwork, withTransport)
			e.counter(e.bytes, 1, 2, 100, "eth0", "receive", g.attrs[g.of[ipv4TCP.Index()]])
			md := e.take()
			want := map[string]any{keyInterface: "eth0", keyDirection: "receive"}
			if withNetwork {
				want[keyNetwork] = "ipv4"
			}
			if withTransport {
				want[keyTransport] = "tcp"
			}
			forEachPoint(md, func(_ pmetric.Metric, dp pmetric.NumberDataPoint) {
				assert.Equal(t, want, dp.Attributes().AsRaw(), "network.type %v, network.transport %v", withNetwork, withTransport)
			})
			assert.Equal(t, 1, md.DataPointCount())
		}
	}
}

// TestEmitterDisabledMetrics: the emitter reads which metrics are enabled
// and which attributes they carry from the configuration; a disabled
// xdp.program.count gets no point, and with every metric disabled a
// collection is empty.
func TestEmitterDisabledMetrics(t *testing.T) {
	e := newDefaultEmitter(func(cfg *metadata.MetricsBuilderConfig) {
		cfg.Metrics.XdpPackets.Enabled = false
		cfg.Metrics.XdpBytes.EnabledAttributes = []metadata.XdpBytesMetricAttributeKey{
			metadata.XdpBytesMetricAttributeKeyNetworkInterfaceName,
			metadata.XdpBytesMetricAttributeKeyNetworkIoDirection,
			metadata.XdpBytesMetricAttributeKeyNetworkType,
		}
		cfg.Metrics.XdpProgramCount.Enabled = false
	})
	assert.False(t, e.packetsOn)
	assert.True(t, e.bytesOn)
	assert.False(t, e.programOn)
	assert.True(t, e.packetGroups.withNetwork && e.packetGroups.withTransport, "xdp.packets keeps its default attributes")
	assert.True(t, e.byteGroups.withNetwork)
	assert.False(t, e.byteGroups.withTransport, "network.transport disabled on xdp.bytes")

	e.program(1, 2, 3, "eth0", "dropped")
	assert.Zero(t, e.take().ResourceMetrics().Len(), "a disabled xdp.program.count emits nothing")

	none := newDefaultEmitter(func(cfg *metadata.MetricsBuilderConfig) {
		cfg.Metrics.XdpPackets.Enabled = false
		cfg.Metrics.XdpBytes.Enabled = false
		cfg.Metrics.XdpProgramCount.Enabled = false
	})
	none.program(1, 2, 3, "eth0", "dropped")
	assert.Zero(t, none.take().ResourceMetrics().Len())
}

// TestEmitterTakeStartsAfresh: a collection, once taken, is the caller's:
// the points of the next collection never show in it.
func TestEmitterTakeStartsAfresh(t *testing.T) {
	e := newDefaultEmitter(nil)
	e.counter(e.packets, 1, 2, 5, "eth0", "receive", ipv4TCPAttrs)
	e.counter(e.bytes, 1, 2, 500, "eth0", "receive", ipv4TCPAttrs)
	first := e.take()
	e.counter(e.packets, 2, 3, 1, "eth1", "receive", ipv4TCPAttrs)
	second := e.take()
	assert.Equal(t, 2, first.DataPointCount())
	assert.Equal(t, 1, second.DataPointCount())
	forEachPoint(first, func(_ pmetric.Metric, dp pmetric.NumberDataPoint) {
		v, _ := dp.Attributes().Get(keyInterface)
		assert.Equal(t, "eth0", v.Str())
	})
}

// TestEmitterReusesCapacity: a collection starts with room for as many
// points as the previous one had, so that its point slices never grow
// step by step. Then the allocations of a collection are affine in its
// points, the same for every point; growing slices would add a
// reallocation at every doubling, which makes the cost of the points
// from 2n to 4n more than twice that of those from n to 2n.
func TestEmitterReusesCapacity(t *testing.T) {
	allocs := func(n int) float64 {
		e := newDefaultEmitter(nil)
		collect := func() {
			for range n {
				e.counter(e.packets, 1, 2, 5, "eth0", "receive", ipv4TCPAttrs)
			}
			e.take()
		}
		collect() // the collection before, whose size the next ones start with
		return testing.AllocsPerRun(100, collect)
	}
	const n = 64
	a1, a2, a4 := allocs(n), allocs(2*n), allocs(4*n)
	assert.Equal(t, 2*(a2-a1), a4-a2, "allocations of collections of %d, %d and %d points: %v, %v, %v", n, 2*n, 4*n, a1, a2, a4)
}

// TestEmitterPodResources: each collection's resource of a pod is its own
// pdata, though made from parts the emitter keeps: the pipeline, which
// owns a collection once taken, may add to a pod's resource (as
// k8sattributes does) without it showing in the next collection's. The
// emitter keeps the parts of the pods of the previous collection only: on
// a node whose pods come and go, they do not pile up.
func TestEmitterPodResources(t *testing.T) {
	e := newDefaultEmitter(nil)
	points := []counterPoint{{dir: bpf.Receive, group: e.packetGroups.of[ipv4TCP.Index()], start: 1, packets: 1, bytes: 100}}
	collect := func(pods ...string) pmetric.Metrics {
		for _, pod := range pods {
			e.counters(owner{iface: "veth" + pod, pod: pod}, 2, points, e.packetGroups, true, true)
		}
		return e.take()
	}
	podAttrs := func(md pmetric.Metrics) map[string]map[string]any {
		got := map[string]map[string]any{}
		for i := range md.ResourceMetrics().Len() {
			rm := md.ResourceMetrics().At(i)
			ip, ok := rm.Resource().Attributes().Get("k8s.pod.ip")
			require.True(t, ok, "a resource without k8s.pod.ip")
			got[ip.Str()] = rm.Resource().Attributes().AsRaw()
			ms := rm.ScopeMetrics().At(0).Metrics()
			var names []string
			for j := range ms.Len() {
				names = append(names, ms.At(j).Name())
			}
			assert.ElementsMatch(t, []string{metricPackets, metricBytes}, names, "pod %s", ip.Str())
		}
		return got
	}

	first := collect("198.18.0.1", "198.18.0.2")
	first.ResourceMetrics().At(0).Resource().Attributes().PutStr("k8s.pod.name", "web-0") // the pipeline's
	second := collect("198.18.0.1", "198.18.0.2")
	assert.Equal(t, map[string]map[string]any{
		"198.18.0.1": {"k8s.pod.ip": "198.18.0.1"},
		"198.18.0.2": {"k8s.pod.ip": "198.18.0.2"},
	}, podAttrs(second), "the pipeline's change to the previous collection")
	assert.Equal(t, 4, second.DataPointCount())

	for i := range 10 {
		collect(fmt.Sprintf("198.18.1.%d", i))
	}
	assert.Len(t, e.pods, 1, "the pods the emitter keeps, after ten collections of a pod each")
	third := collect("198.18.0.1")
	assert.Equal(t, map[string]map[string]any{"198.18.0.1": {"k8s.pod.ip": "198.18.0.1"}}, podAttrs(third), "a pod that came back")
}

// TestClassAttributes ties bpf's classes to metadata.yaml's enums.
func TestClassAttributes(t *testing.T) {
	for i := range bpf.NumClasses {
		c := bpf.ClassAt(i)
		assert.Equal(t, c.Network.String(), classAttrs[i].network, "class %d", i)
		assert.Equal(t, c.Transport.String(), classAttrs[i].transport, "class %d", i)
	}
	assert.Len(t, metadata.MapAttributeNetworkType, 4)
	assert.Len(t, metadata.MapAttributeNetworkTransport, 5)
	assert.Equal(t, 20, bpf.NumClasses)
}

// TestDirectionAttributes ties bpf's directions to metadata.yaml's
// network.io.direction values, in bpf's order.
func TestDirectionAttributes(t *testing.T) {
	assert.Equal(t, [bpf.NumDirections]string{"receive", "transmit"}, directionAttrs)
	for _, v := range directionAttrs {
		assert.Contains(t, metadata.MapAttributeNetworkIoDirection, v)
	}
}

// TestClassGroups: with network.type and network.transport enabled every
// class is a series of its own; each disabled attribute merges the
// classes that only it told apart, and a group carries the attribute
// values its classes share, none of a disabled attribute.
func TestClassGroups(t *testing.T) {
	for _, tc := range []struct {
		network, transport bool
		groups             int
	}{
		{true, true, bpf.NumClasses},
		{false, true, 5}, // one per transport
		{true, false, 4}, // one per network type
		{false, false, 1},
	} {
		g := newClassGroups(tc.network, tc.transport)
		assert.Equal(t, tc.groups, g.n, "network.type %v, network.transport %v", tc.network, tc.transport)
		for i := range bpf.NumClasses {
			assert.Less(t, g.of[i], g.n)
			want := classAttrs[i]
			if !tc.network {
				want.network = ""
			}
			if !tc.transport {
				want.transport = ""
			}
			assert.Equal(t, want, g.attrs[g.of[i]], "class %v", bpf.ClassAt(i))
			for j := range bpf.NumClasses {
				a, b := classAttrs[i], classAttrs[j]
				same := (!tc.network || a.network == b.network) && (!tc.transport || a.transport == b.transport)
				assert.Equal(t, same, g.of[i] == g.of[j], "classes %v and %v", bpf.ClassAt(i), bpf.ClassAt(j))
			}
		}
	}
	assert.True(t, newClassGroups(false, true).equal(newClassGroups(false, true)))
	assert.False(t, newClassGroups(false, true).equal(newClassGroups(true, true)))
	assert.False(t, newClassGroups(true, false).equal(newClassGroups(true, true)))
}
