package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"fmt"
	"slices"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
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

// counters appends the points of an interface's series of xdp.packets,
// xdp.bytes, or both, whose classes group as g does.
func (e *emitter) counters(iface string, now pcommon.Timestamp, points []counterPoint, g *classGroups, packets, bytes bool) {
	for _, p := range points {
		dir, a := directionAttrs[p.dir], g.attrs[p.group]
		if packets {
			e.counter(e.packets, p.start, now, p.packets, iface, dir, a)
		}
		if bytes {
			e.counter(e.bytes, p.start, now, p.bytes, iface, dir, a)
		}
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

// programs appends the points of an interface's series of
// xdp.program.count, whose keys are named as names says.
func (e *emitter) programs(iface string, now pcommon.Timestamp, points []keyedPoint, names map[uint32]string) {
	if !e.programOn {
		return
	}
	for _, p := range points {
		e.program(p.start, now, p.value, iface, keyName(names, p.key))
	}
}

// keyName is the xdp.program.key of key: its configured name, or its
// number in decimal.
func keyName(names map[uint32]string, key uint32) string {
	if name, ok := names[key]; ok {
		return name
	}
	return strconv.FormatUint(uint64(key), 10)
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

// classAttributes are one class's attribute values.
type classAttributes struct {
	network   string
	transport string
}

// classAttrs maps each class to its attribute values once, so that a
// collection does no string work. Going through the names ties the two
// enums, bpf's and metadata.yaml's, together: a class without an attribute
// value stops the collector at start rather than emitting an empty one.
var classAttrs = func() (attrs [bpf.NumClasses]classAttributes) {
	for i := range attrs {
		c := bpf.ClassAt(i)
		n, okN := metadata.MapAttributeNetworkType[c.Network.String()]
		t, okT := metadata.MapAttributeNetworkTransport[c.Transport.String()]
		if !okN || !okT {
			panic(fmt.Sprintf("xdp counter class %s has no network.type or network.transport value in metadata.yaml", c))
		}
		attrs[i] = classAttributes{network: n.String(), transport: t.String()}
	}
	return attrs
}()

// directionAttrs are the network.io.direction values, by direction.
var directionAttrs = func() (attrs [bpf.NumDirections]string) {
	for d := range attrs {
		v, ok := metadata.MapAttributeNetworkIoDirection[bpf.Direction(d).String()]
		if !ok {
			panic(fmt.Sprintf("direction %s has no network.io.direction value in metadata.yaml", bpf.Direction(d)))
		}
		attrs[d] = v.String()
	}
	return attrs
}()

// classGroups are the series of one metric's classes. With every
// attribute enabled each class is a series of its own; a user who disables
// network.type or network.transport gets one series for the classes that
// differ only in those, whose counts add up.
type classGroups struct {
	n     int                 // the number of groups
	of    [bpf.NumClasses]int // the group of each class
	attrs [bpf.NumClasses]classAttributes
	// withNetwork and withTransport are the attributes the groups carry.
	withNetwork, withTransport bool
}

func newClassGroups(withNetwork, withTransport bool) *classGroups {
	g := &classGroups{withNetwork: withNetwork, withTransport: withTransport}
	index := map[classAttributes]int{}
	for class := range bpf.NumClasses {
		a := classAttrs[class]
		if !withNetwork {
			a.network = ""
		}
		if !withTransport {
			a.transport = ""
		}
		i, ok := index[a]
		if !ok {
			i = g.n
			index[a] = i
			g.attrs[i] = a
			g.n++
		}
		g.of[class] = i
	}
	return g
}

// equal tells whether the two group the classes alike.
func (g *classGroups) equal(o *classGroups) bool {
	return g.withNetwork == o.withNetwork && g.withTransport == o.withTransport
}
