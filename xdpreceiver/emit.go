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

	// The metrics of md's node resource, and whether they are enabled.
	packets, bytes, programCount  pmetric.NumberDataPointSlice
	packetsOn, bytesOn, programOn bool
	// pods are the pods' resources, by pod IP: of every pod with points in
	// this collection or the previous one. Each is kept from one
	// collection to the next, so that a scrape makes a pod's resource
	// only as pdata needs, from parts made once (podResource).
	pods map[string]*podResource
	// collection numbers the collections, from 1: podResource.made.
	collection uint64
	// podTemplates are what a pod's resource copies its metrics from: the
	// template's resource metrics without a resource, with only the
	// counters (xdp.packets and xdp.bytes, as enabled) or only
	// xdp.program.count, by podTemplate's index. A receiver's source
	// emits either, never both; and a pod's resource made with metrics
	// that get no points would be made for take to remove.
	podTemplates [2]pmetric.ResourceMetrics
	rb           *metadata.ResourceBuilder // makes the pods' resources
	// The groups the enabled metrics report classes in.
	packetGroups, byteGroups *classGroups
}

// podResource is a pod's resource: what each collection's is made of,
// and the metrics of this collection's.
type podResource struct {
	// resource is k8s.pod.ip, made once, for each collection to copy: the
	// pdata handed on belongs to the pipeline, which may change it
	// (k8sattributes adds to it), so that every collection needs a copy.
	resource pcommon.Resource
	// made is the collection that made metrics; 0 for none yet.
	made    uint64
	metrics metricSlices
	// sizes are how many points the metrics had in the collection before
	// made: room to make at once.
	sizes [3]int
}

// Indices of emitter.podTemplates.
const (
	podCounters = iota
	podPrograms
)

// metricSlices are the metrics of one resource.
type metricSlices struct {
	packets, bytes, programCount pmetric.NumberDataPointSlice
}

// owner is whose an interface's series are: the node's, when pod is
// empty, or the pod's whose IP pod is. The owner is part of a series'
// identity: its resource, and its view of direction.
type owner struct {
	iface string
	pod   string
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
		programCount: pmetric.NewNumberDataPointSlice(), pods: map[string]*podResource{},
		rb: metadata.NewResourceBuilder(cfg.ResourceAttributes)}
	if e.template.ResourceMetrics().Len() == 0 {
		// Every metric disabled: a resource without metrics, which pods'
		// resources copy as the node's does, and take drops.
		e.template.ResourceMetrics().AppendEmpty()
	}
	forEachMetric(e.template, func(m pmetric.Metric) {
		m.Sum().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return true })
	})
	for i := range e.podTemplates {
		rm := pmetric.NewResourceMetrics()
		e.template.ResourceMetrics().At(0).CopyTo(rm)
		pcommon.NewResource().CopyTo(rm.Resource()) // each pod's own replaces it
		programs := i == podPrograms
		sms := rm.ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sms.At(j).Metrics().RemoveIf(func(m pmetric.Metric) bool { return (m.Name() == metricProgramCount) != programs })
		}
		e.podTemplates[i] = rm
	}
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
	// Pods without points in the collection just taken are forgotten: a
	// pod that comes back makes its resource anew.
	pods := 0
	for ip, p := range e.pods {
		if p.made != e.collection {
			delete(e.pods, ip)
			continue
		}
		p.sizes = [3]int{pointsOf(p.metrics.packets), pointsOf(p.metrics.bytes), pointsOf(p.metrics.programCount)}
		pods++
	}
	e.collection++
	e.md.ResourceMetrics().EnsureCapacity(1 + pods)
	node := findSlices(e.md.ResourceMetrics().At(0), sizes)
	e.packets, e.bytes, e.programCount = node.packets, node.bytes, node.programCount
}

// pointsOf is how many points dps holds; 0 for none made, the zero value.
func pointsOf(dps pmetric.NumberDataPointSlice) int {
	if dps == (pmetric.NumberDataPointSlice{}) {
		return 0
	}
	return dps.Len()
}

// findSlices finds the metrics of rm, and gives each room for sizes says.
// A metric that is disabled is not in rm: its points go nowhere.
func findSlices(rm pmetric.ResourceMetrics, sizes map[string]int) metricSlices {
	s := metricSlices{packets: pmetric.NewNumberDataPointSlice(), bytes: pmetric.NewNumberDataPointSlice(),
		programCount: pmetric.NewNumberDataPointSlice()}
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			dps := m.Sum().DataPoints()
			dps.EnsureCapacity(sizes[m.Name()])
			switch m.Name() {
			case metricPackets:
				s.packets = dps
			case metricBytes:
				s.bytes = dps
			case metricProgramCount:
				s.programCount = dps
			}
		}
	}
	return s
}

// of returns the metrics of pod's resource, or the node's for "". A pod's
// resource is the template's, with k8s.pod.ip: a resource of its own per
// pod, so that k8sattributes adds the pod's attributes to its points only.
// It holds the counters or xdp.program.count, as programs says: the
// metrics the caller has points of.
func (e *emitter) of(pod string, programs bool) metricSlices {
	if pod == "" {
		return metricSlices{packets: e.packets, bytes: e.bytes, programCount: e.programCount}
	}
	p := e.pods[pod]
	if p == nil {
		e.rb.SetK8sPodIP(pod)
		p = &podResource{resource: e.rb.Emit()}
		e.pods[pod] = p
	}
	if p.made == e.collection {
		return p.metrics
	}
	rm := e.md.ResourceMetrics().AppendEmpty()
	t := podCounters
	if programs {
		t = podPrograms
	}
	e.podTemplates[t].CopyTo(rm)
	p.resource.CopyTo(rm.Resource())
	p.metrics = metricSlices{}
	sms := rm.ScopeMetrics()
	for i := 0; i < sms.Len(); i++ {
		ms := sms.At(i).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			dps := m.Sum().DataPoints()
			switch m.Name() {
			case metricPackets:
				dps.EnsureCapacity(p.sizes[0])
				p.metrics.packets = dps
			case metricBytes:
				dps.EnsureCapacity(p.sizes[1])
				p.metrics.bytes = dps
			case metricProgramCount:
				dps.EnsureCapacity(p.sizes[2])
				p.metrics.programCount = dps
			}
		}
	}
	p.made = e.collection
	return p.metrics
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

// counters appends the points of o's series of xdp.packets, xdp.bytes, or
// both, whose classes group as g does, to o's resource, in o's view of
// direction.
func (e *emitter) counters(o owner, now pcommon.Timestamp, points []counterPoint, g *classGroups, packets, bytes bool) {
	if len(points) == 0 || !packets && !bytes {
		return // no resource of a pod without points
	}
	dirs, dst := &directionAttrs, e.of(o.pod, false)
	if o.pod != "" {
		dirs = &podDirectionAttrs
	}
	for _, p := range points {
		dir, a := dirs[p.dir], g.attrs[p.group]
		if packets {
			e.counter(dst.packets, p.start, now, p.packets, o.iface, dir, a)
		}
		if bytes {
			e.counter(dst.bytes, p.start, now, p.bytes, o.iface, dir, a)
		}
	}
}

// program appends a point of xdp.program.count to the node's resource.
func (e *emitter) program(start, now pcommon.Timestamp, v int64, iface, key string) {
	e.programTo(e.programCount, start, now, v, iface, key)
}

func (e *emitter) programTo(dps pmetric.NumberDataPointSlice, start, now pcommon.Timestamp, v int64, iface, key string) {
	if !e.programOn {
		return
	}
	attrs := e.point(dps, start, now, v, 2)
	attrs.PutStr(keyInterface, iface)
	attrs.PutStr(keyProgKey, key)
}

// programs appends the points of o's series of xdp.program.count, whose
// keys are named as names says, to o's resource.
func (e *emitter) programs(o owner, now pcommon.Timestamp, points []keyedPoint, names map[uint32]string) {
	if !e.programOn || len(points) == 0 {
		return
	}
	dps := e.of(o.pod, true).programCount
	for _, p := range points {
		e.programTo(dps, p.start, now, p.value, o.iface, keyName(names, p.key))
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
		// The node's resource, when every point was a pod's.
		md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
			sms := rm.ScopeMetrics()
			for j := 0; j < sms.Len(); j++ {
				if sms.At(j).Metrics().Len() > 0 {
					return false
				}
			}
			return true
		})
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

// podDirectionAttrs are the network.io.direction values of a pod's
// interface, by the host end's direction: the pod's view, as
// k8s.pod.network.io reports it. What the host end transmits, the pod
// receives, and the other way round.
var podDirectionAttrs = [bpf.NumDirections]string{
	bpf.Receive:  directionAttrs[bpf.Transmit],
	bpf.Transmit: directionAttrs[bpf.Receive],
}

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
