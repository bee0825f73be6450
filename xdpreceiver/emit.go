package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// emitter builds the pdata of collections. The metrics' metadata (name,
// description, unit, temporality, scope) comes from mdatagen's builder,
// once, as a template; the points are appended to the template's copy
// directly.
//
// The builder's Record* functions are not used per point: each builds a
// standalone point, compares its attributes with every point recorded so
// far (aggregation of disabled attributes, quadratic in points) and copies
// it in. Here each point costs what pdata itself needs (the point and its
// attribute values) and no more; the aggregation is done once, by class
// groups (classGroups), before points exist.
type emitter struct {
	template pmetric.Metrics
	md       pmetric.Metrics
	points   int

	// The metrics of md, and whether they are enabled.
	packets, bytes, programCount  pmetric.NumberDataPointSlice
	packetsOn, bytesOn, programOn bool
	// The groups the enabled metrics report classes in.
	packetGroups, byteGroups *classGroups
}

// Metric names, as the builder spells them in the template.
const (
	metricPackets      = "xdp.packets"
	metricBytes        = "xdp.bytes"
	metricProgramCount = "xdp.program.count"
)

// Attribute keys, from metadata.yaml.
var (
	keyInterface = string(metadata.XdpPacketsMetricAttributeKeyNetworkInterfaceName)
	keyDirection = string(metadata.XdpPacketsMetricAttributeKeyNetworkIoDirection)
	keyNetwork   = string(metadata.XdpPacketsMetricAttributeKeyNetworkType)
	keyTransport = string(metadata.XdpPacketsMetricAttributeKeyNetworkTransport)
	keyProgKey   = "xdp.program.key" // all of xdp.program.count's attributes are required: no key constants
)

func newEmitter(cfg metadata.MetricsBuilderConfig, set receiver.Settings) *emitter {
	mb := metadata.NewMetricsBuilder(cfg, set)
	ts := pcommon.Timestamp(1)
	mb.RecordXdpPacketsDataPoint(ts, 0, "", metadata.AttributeNetworkIoDirectionReceive,
		metadata.AttributeNetworkTypeIpv4, metadata.AttributeNetworkTransportTCP)
	mb.RecordXdpBytesDataPoint(ts, 0, "", metadata.AttributeNetworkIoDirectionReceive,
		metadata.AttributeNetworkTypeIpv4, metadata.AttributeNetworkTransportTCP)
	mb.RecordXdpProgramCountDataPoint(ts, 0, "", "")
	e := &emitter{template: mb.Emit(), packets: pmetric.NewNumberDataPointSlice(), bytes: pmetric.NewNumberDataPointSlice(),
		programCount: pmetric.NewNumberDataPointSlice()}
	forEachMetric(e.template, func(m pmetric.Metric) {
		m.Sum().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return true })
	})
	p, b := cfg.Metrics.XdpPackets, cfg.Metrics.XdpBytes
	e.packetsOn, e.bytesOn, e.programOn = p.Enabled, b.Enabled, cfg.Metrics.XdpProgramCount.Enabled
	e.packetGroups = newClassGroups(slices.Contains(p.EnabledAttributes, metadata.XdpPacketsMetricAttributeKeyNetworkType),
		slices.Contains(p.EnabledAttributes, metadata.XdpPacketsMetricAttributeKeyNetworkTransport))
	e.byteGroups = newClassGroups(slices.Contains(b.EnabledAttributes, metadata.XdpBytesMetricAttributeKeyNetworkType),
		slices.Contains(b.EnabledAttributes, metadata.XdpBytesMetricAttributeKeyNetworkTransport))
	e.begin()
	return e
}

func forEachMetric(md pmetric.Metrics, f func(pmetric.Metric)) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				f(ms.At(k))
			}
		}
	}
}

// begin starts a collection's pdata, from a copy of the template, with
// room for as many points as the previous collection had: the point slices
// are allocated once per collection at the size they will have, rather
// than grown step by step.
func (e *emitter) begin() {
	sizes := map[string]int{metricPackets: e.packets.Len(), metricBytes: e.bytes.Len(), metricProgramCount: e.programCount.Len()}
	e.md = pmetric.NewMetrics()
	e.template.CopyTo(e.md)
	e.points = 0
	forEachMetric(e.md, func(m pmetric.Metric) {
		dps := m.Sum().DataPoints()
		dps.EnsureCapacity(sizes[m.Name()])
		switch m.Name() {
		case metricPackets:
			e.packets = dps
		case metricBytes:
			e.bytes = dps
		case metricProgramCount:
			e.programCount = dps
		}
	})
}

// point appends a point to dps, and returns its attributes, with room for
// n of them.
func (e *emitter) point(dps pmetric.NumberDataPointSlice, start, now pcommon.Timestamp, v int64, n int) pcommon.Map {
	dp := dps.AppendEmpty()
	dp.SetStartTimestamp(start)
	dp.SetTimestamp(now)
	dp.SetIntValue(v)
	e.points++
	attrs := dp.Attributes()
	attrs.EnsureCapacity(n)
	return attrs
}

// counter appends a point of xdp.packets or xdp.bytes.
func (e *emitter) counter(dps pmetric.NumberDataPointSlice, start, now pcommon.Timestamp, v int64, iface, dir string, a classAttributes) {
	attrs := e.point(dps, start, now, v, 4)
	attrs.PutStr(keyInterface, iface)
	attrs.PutStr(keyDirection, dir)
	if a.network != "" {
		attrs.PutStr(keyNetwork, a.network)
	}
	if a.transport != "" {
		attrs.PutStr(keyTransport, a.transport)
	}
}

// program appends a point of xdp.program.count.
func (e *emitter) program(start, now pcommon.Timestamp, v int64, iface, key string) {
	if !e.programOn {
		return
	}
	attrs := e.point(e.programCount, start, now, v, 2)
	attrs.PutStr(keyInterface, iface)
	attrs.PutStr(keyProgKey, key)
}

// take returns the collection's pdata, without the metrics that have no
// points, and starts the next one. A collection without points is empty.
func (e *emitter) take() pmetric.Metrics {
	md := e.md
	if e.points == 0 {
		md = pmetric.NewMetrics()
	} else {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			sms := md.ResourceMetrics().At(i).ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				sms.At(j).Metrics().RemoveIf(func(m pmetric.Metric) bool { return m.Sum().DataPoints().Len() == 0 })
			}
		}
	}
	e.begin()
	return md
}
