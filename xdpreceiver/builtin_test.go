package xdpreceiver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// startBuiltin starts a built-in source on the fake kernel's datapath,
// wrapped by wrap if it is given, and closes it when the test ends.
func startBuiltin(t *testing.T, k *fakeKernel, em *emitter, dirs []bpf.Direction, logger *zap.Logger,
	wrap func(datapath[slotHandle]) datapath[slotHandle],
) *builtinSource[slotHandle] {
	t.Helper()
	load := func() (datapath[slotHandle], error) {
		d, err := k.kernel().loadDatapath(bpf.Options{Capacity: 8})
		if err == nil && wrap != nil {
			d = wrap(d)
		}
		return d, err
	}
	src := newBuiltinSource(load, bpf.ModeAuto, dirs, em, logger)
	require.NoError(t, src.start(func() pcommon.Timestamp { return 1 }))
	t.Cleanup(func() { _ = src.close() })
	return src
}

// builtinPoints are a collection's points, by metric and class.
func builtinPoints(md pmetric.Metrics) map[string]map[string]int64 {
	out := map[string]map[string]int64{}
	forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		k := keyOf(m, dp)
		if out[k.metric] == nil {
			out[k.metric] = map[string]int64{}
		}
		out[k.metric][k.network+"/"+k.transport] += dp.IntValue()
	})
	return out
}

// TestBuiltinSeriesPerMetric: an interface's series emit each enabled
// metric, with the attributes each has; xdp.packets and xdp.bytes with
// different attributes group the classes each its own way; with both
// disabled nothing is emitted. A failed read costs a point per enabled
// metric.
func TestBuiltinSeriesPerMetric(t *testing.T) {
	ipv6TCP := bpf.Class{Network: bpf.IPv6, Transport: bpf.TCP}
	withoutNetworkType := []metadata.XdpPacketsMetricAttributeKey{
		metadata.XdpPacketsMetricAttributeKeyNetworkInterfaceName,
		metadata.XdpPacketsMetricAttributeKeyNetworkIoDirection,
		metadata.XdpPacketsMetricAttributeKeyNetworkTransport,
	}
	for _, tc := range []struct {
		name   string
		edit   func(*metadata.MetricsBuilderConfig)
		want   map[string]map[string]int64
		points int
	}{
		{"default", nil, map[string]map[string]int64{
			metricPackets: {"ipv4/tcp": 1, "ipv6/tcp": 2},
			metricBytes:   {"ipv4/tcp": 100, "ipv6/tcp": 300},
		}, 2},
		{"bytes disabled", func(c *metadata.MetricsBuilderConfig) { c.Metrics.XdpBytes.Enabled = false },
			map[string]map[string]int64{metricPackets: {"ipv4/tcp": 1, "ipv6/tcp": 2}}, 1},
		{"packets disabled", func(c *metadata.MetricsBuilderConfig) { c.Metrics.XdpPackets.Enabled = false },
			map[string]map[string]int64{metricBytes: {"ipv4/tcp": 100, "ipv6/tcp": 300}}, 1},
		{"both disabled", func(c *metadata.MetricsBuilderConfig) {
			c.Metrics.XdpPackets.Enabled = false
			c.Metrics.XdpBytes.Enabled = false
		}, map[string]map[string]int64{}, 0},
		{"packets without network.type", func(c *metadata.MetricsBuilderConfig) {
			c.Metrics.XdpPackets.EnabledAttributes = withoutNetworkType
		}, map[string]map[string]int64{
			metricPackets: {"/tcp": 3},
			metricBytes:   {"ipv4/tcp": 100, "ipv6/tcp": 300},
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, em := newFakeKernel(), newDefaultEmitter(tc.edit)
			src := startBuiltin(t, k, em, []bpf.Direction{bpf.Receive}, zap.NewNop(), nil)
			s := src.newTap()
			_, err := s.attach("eth0", 1)
			require.NoError(t, err)
			k.add(t, "eth0", ipv4TCP, 1, 100)
			k.add(t, "eth0", ipv6TCP, 2, 150)
			require.NoError(t, src.collect())
			require.NoError(t, s.read())
			s.emit(em, owner{iface: "eth0"}, 2)
			assert.Equal(t, tc.want, builtinPoints(em.take()))
			assert.Equal(t, tc.points, src.pointsPerSeries())
		})
	}
}

// failingDatapath is a datapath whose interfaces fail to attach direction
// fail.
type failingDatapath struct {
	datapath[slotHandle]
	fail bpf.Direction
}

func (d failingDatapath) Open(name string) (slotHandle, error) {
	i, err := d.datapath.Open(name)
	if err != nil {
		return nil, err
	}
	return failingInterface{i, d.fail}, nil
}

type failingInterface struct {
	slotHandle
	fail bpf.Direction
}

func (i failingInterface) Attach(dir bpf.Direction, mode bpf.Mode) (bpf.Placement, error) {
	if dir == i.fail {
		return bpf.Placement{}, errors.New("fake: attach refused")
	}
	return i.slotHandle.Attach(dir, mode)
}

// TestBuiltinAttachAllOrNone: attach attaches every configured direction,
// in order, and reports each hook; when one fails, the interface is
// released, so that it holds no slot and no program.
func TestBuiltinAttachAllOrNone(t *testing.T) {
	both := []bpf.Direction{bpf.Receive, bpf.Transmit}
	k := newFakeKernel()
	src := startBuiltin(t, k, newDefaultEmitter(nil), both, zap.NewNop(), nil)
	a := src.newTap()
	index, err := a.attach("eth0", 1)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.release() })
	var dirs []bpf.Direction
	for _, h := range a.placements() {
		dirs = append(dirs, h.dir)
		assert.Equal(t, bpf.HookTCX, h.Hook)
	}
	assert.Equal(t, both, dirs)
	assert.Equal(t, k.links["eth0"], index)

	k = newFakeKernel()
	src = startBuiltin(t, k, newDefaultEmitter(nil), both, zap.NewNop(),
		func(d datapath[slotHandle]) datapath[slotHandle] { return failingDatapath{d, bpf.Transmit} })
	_, err = src.newTap().attach("eth1", 1)
	require.EqualError(t, err, "fake: attach refused")
	assert.Equal(t, 1, k.closes("eth1"), "released after transmit failed")
}

// slotZeroDatapath is a datapath whose slot 0, of the packets that met no
// slot, counts what the test sets.
type slotZeroDatapath struct {
	datapath[slotHandle]
	zero *bpf.Counts
}

func (d slotZeroDatapath) Read(s *bpf.Snapshot) error {
	if err := d.datapath.Read(s); err != nil {
		return err
	}
	(*s)[0] = *d.zero
	return nil
}

// TestBuiltinUnattributed: packets that met no slot are emitted under an
// empty interface name, as deltas like any interface's, with a warning the
// first time; while slot 0 is zero nothing is emitted.
func TestBuiltinUnattributed(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	k, em, zero := newFakeKernel(), newDefaultEmitter(nil), &bpf.Counts{}
	unstarted := newBuiltinSource[slotHandle](nil, bpf.ModeAuto, []bpf.Direction{bpf.Receive}, em, zap.New(core))
	unstarted.emitOwn(em, func() pcommon.Timestamp { return 1 })
	src := startBuiltin(t, k, em, []bpf.Direction{bpf.Receive}, zap.New(core),
		func(d datapath[slotHandle]) datapath[slotHandle] { return slotZeroDatapath{d, zero} })
	now := pcommon.Timestamp(1)
	collect := func() map[string]map[string]int64 {
		t.Helper()
		now++
		require.NoError(t, src.collect())
		src.emitOwn(em, func() pcommon.Timestamp { return now })
		md := em.take()
		forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
			assert.Empty(t, keyOf(m, dp).iface, "network.interface.name")
		})
		return builtinPoints(md)
	}
	assert.Empty(t, collect())
	assert.Zero(t, logs.Len(), "no packet met no slot: no warning")

	zero.Dir[bpf.Receive][arp.Index()] = bpf.Counter{Packets: 2, Bytes: 120}
	assert.Equal(t, map[string]map[string]int64{metricPackets: {"arp/none": 2}, metricBytes: {"arp/none": 120}}, collect())
	zero.Dir[bpf.Receive][arp.Index()] = bpf.Counter{Packets: 3, Bytes: 180}
	assert.Equal(t, map[string]map[string]int64{metricPackets: {"arp/none": 1}, metricBytes: {"arp/none": 60}}, collect())
	assert.Equal(t, 1, logs.FilterMessageSnippet("met no slot").Len(), "warned once")
}

// TestBuiltinUnattributedStartsAtLoad: the series of slot 0 start when
// the datapath begins to load, before the load returns, not at time 0:
// every packet slot 0 counts is inside its first point's interval, and
// the interval is no longer than the datapath's life.
func TestBuiltinUnattributedStartsAtLoad(t *testing.T) {
	k, em, zero := newFakeKernel(), newDefaultEmitter(nil), &bpf.Counts{}
	clock := pcommon.Timestamp(7)
	load := func() (datapath[slotHandle], error) {
		clock = 9 // loading takes a while
		d, err := k.kernel().loadDatapath(bpf.Options{Capacity: 8})
		return slotZeroDatapath{d, zero}, err
	}
	src := newBuiltinSource(load, bpf.ModeAuto, []bpf.Direction{bpf.Receive}, em, zap.NewNop())
	require.NoError(t, src.start(func() pcommon.Timestamp { return clock }))
	t.Cleanup(func() { _ = src.close() })

	var intervals [][2]pcommon.Timestamp
	for _, now := range []pcommon.Timestamp{12, 15} {
		zero.Dir[bpf.Receive][arp.Index()].Packets++
		require.NoError(t, src.collect())
		src.emitOwn(em, func() pcommon.Timestamp { return now })
		forEachPoint(em.take(), func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
			if m.Name() == metricPackets {
				intervals = append(intervals, [2]pcommon.Timestamp{dp.StartTimestamp(), dp.Timestamp()})
			}
		})
	}
	assert.Equal(t, [][2]pcommon.Timestamp{{7, 12}, {12, 15}}, intervals,
		"the first point starts at the reading taken before the load")
}

// TestScraperUnattributedStartsAtStart: through the scraper, slot 0's first
// point starts at the clock's reading when Start loaded the datapath.
func TestScraperUnattributedStartsAtStart(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	loaded := clk.at(5)
	s := newConfiguredScraper(t, k, clk, testConfig("eth0"))
	require.NoError(t, startListed(t, s, newStatusHost()))
	clk.at(10)
	k.mu.Lock()
	k.slotZero.Dir[bpf.Receive][arp.Index()] = bpf.Counter{Packets: 1, Bytes: 60}
	k.mu.Unlock()
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	var starts []pcommon.Timestamp
	forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		if keyOf(m, dp).iface == "" {
			starts = append(starts, dp.StartTimestamp())
		}
	})
	assert.Equal(t, []pcommon.Timestamp{loaded, loaded}, starts, "xdp.packets and xdp.bytes of slot 0 start at the load")
}

// TestBuiltinSeriesMoved: a series has moved when every configured
// direction counted packets between its last two reads: then every
// program ran, and the kernel need not be asked whether it is attached.
func TestBuiltinSeriesMoved(t *testing.T) {
	k := newFakeKernel()
	src := startBuiltin(t, k, newDefaultEmitter(nil), []bpf.Direction{bpf.Receive, bpf.Transmit}, zap.NewNop(), nil)
	s := src.newTap()
	_, err := s.attach("eth0", 1)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.release() })
	read := func() bool {
		t.Helper()
		require.NoError(t, src.collect())
		require.NoError(t, s.read())
		return s.moved()
	}
	assert.False(t, read(), "nothing counted")
	k.addDir(t, "eth0", bpf.Receive, ipv4TCP, 1, 100)
	assert.False(t, read(), "transmit counted nothing")
	k.addDir(t, "eth0", bpf.Receive, ipv4TCP, 1, 100)
	k.addDir(t, "eth0", bpf.Transmit, arp, 1, 60)
	assert.True(t, read(), "both directions counted")
	assert.False(t, read(), "nothing since")
}

// TestBuiltinClose: close frees the datapath once; before start, and a
// second time, it has nothing to free.
func TestBuiltinClose(t *testing.T) {
	k := newFakeKernel()
	load := func() (datapath[slotHandle], error) { return k.kernel().loadDatapath(bpf.Options{Capacity: 1}) }
	src := newBuiltinSource(load, bpf.ModeAuto, []bpf.Direction{bpf.Receive}, newDefaultEmitter(nil), zap.NewNop())
	require.NoError(t, src.close(), "close before start")
	require.NoError(t, src.start(func() pcommon.Timestamp { return 1 }))
	assert.Equal(t, 1, k.datapaths)
	require.NoError(t, src.close())
	require.NoError(t, src.close())
	assert.Equal(t, 0, k.datapaths, "the datapath closed once")
}
