//go:build linux

package xdpreceiver

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// The tests in this file lay pods out in the host's namespace as CNIs do
// (xdptest: routes, a bridge), with veths of the test's own, and run the
// receiver on them as the collector does: the factory's configuration,
// Start, a scrape at every tick, Shutdown. Each sends known frames each
// way and checks, over everything the receiver handed on: exact counts
// by resource, interface and direction, in the pod's view on a pod's
// interface; series that follow each other without gap or overlap, and a
// pod's that starts exactly where the series it takes over from ended;
// and a golden file of the points summed per series, resources included.

// podNode is a receiver and what the test sent through the interfaces it
// counts.
type podNode struct {
	t    *testing.T
	s    *xdpScraper
	r    receiver.Metrics
	sink *consumertest.MetricsSink
	tick chan time.Time
	clk  *recClock
	// want is what the test sent, where the receiver must report it.
	want map[podAt]*xdptest.Totals
	// sent is the same by interface and direction as the kernel counts
	// it: the sum over every resource.
	sent map[at]*xdptest.Totals
	// stand are the golden files' stand-ins for this run's interface
	// names and pod IPs.
	stand map[string]string
}

// podAt is where a point counts: a resource (a pod's IP, "" for the
// node's), an interface, and a direction as the receiver reports it.
type podAt struct{ pod, iface, dir string }

func (a podAt) String() string { return fmt.Sprintf("%q %s %s", a.pod, a.iface, a.dir) }

// startPodNode starts the receiver on ifaces, both directions, pods on,
// with the factory's defaults otherwise (ip_family ipv4), and shuts it
// down when the test ends, if the test did not. It returns once the
// controller's first scrape arrived and the patterns' interfaces present
// at start are attached.
func startPodNode(t *testing.T, configure func(*Config), ifaces ...string) *podNode {
	t.Helper()
	cfg := NewFactory().CreateDefaultConfig().(*Config)
	cfg.Interfaces = ifaces
	cfg.Directions = []string{"receive", "transmit"}
	cfg.InitialDelay = 0
	if configure != nil {
		configure(cfg)
	}
	require.NoError(t, cfg.Validate())
	require.True(t, cfg.Pods.Enabled, "pods are attributed by default")
	n := &podNode{t: t, sink: new(consumertest.MetricsSink), tick: make(chan time.Time), clk: &recClock{},
		want: map[podAt]*xdptest.Totals{}, sent: map[at]*xdptest.Totals{}, stand: map[string]string{}}
	var err error
	n.r, n.s, err = newReceiverScraper(cfg, receivertest.NewNopSettings(metadata.Type), n.sink, linuxKernel(), n.clk.now,
		scraperhelper.WithTickerChannel(n.tick))
	require.NoError(t, err)
	require.NoError(t, n.r.Start(t.Context(), newStatusHost()))
	t.Cleanup(func() { _ = n.r.Shutdown(context.Background()) })
	waitForScrapes(t, n.sink, 1)
	n.s.mu.Lock()
	w := n.s.watch
	n.s.mu.Unlock()
	select {
	case <-w.listed:
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not apply the initial listing within 10 s")
	}
	return n
}

// as makes stand the golden files' stand-in for name, an interface's
// name or a pod's IP.
func (n *podNode) as(name, stand string) { n.stand[name] = stand }

// waitPod waits until the receiver knows that the interface with index
// belongs to the pod with ip, or to none for an invalid ip.
func (n *podNode) waitPod(index int, ip netip.Addr) {
	n.t.Helper()
	want := ""
	if ip.IsValid() {
		want = ip.String()
	}
	require.Eventually(n.t, func() bool {
		n.s.mu.Lock()
		defer n.s.mu.Unlock()
		return n.s.life.pods[index] == want
	}, 5*time.Second, time.Millisecond, "interface %d: the receiver never learnt pod %q", index, want)
}

// waitCounted waits until the receiver counts the interface with index,
// or until it no longer does for !counted.
func (n *podNode) waitCounted(index int, counted bool) {
	n.t.Helper()
	require.Eventually(n.t, func() bool {
		n.s.mu.Lock()
		defer n.s.mu.Unlock()
		return (n.s.life.byIndex[index] != nil) == counted
	}, 5*time.Second, time.Millisecond, "interface %d: counted is never %v", index, counted)
}

// fromPod has the pod behind p (pod is its IP, "" for a veth of no pod)
// send every frame keep keeps, rounds times: the host end receives them,
// which is the pod's transmit.
func (n *podNode) fromPod(p *xdptest.Pair, pod string, rounds int, keep func(xdptest.Frame) bool) {
	n.t.Helper()
	var sent xdptest.Totals
	injectFrames(n.t, p, rounds, &sent, keep)
	n.add(podAt{pod, p.Host, viewOf(pod, bpf.Receive)}, rx(p.Host), &sent)
}

// toPod sends the pod behind p every frame keep keeps, rounds times: the
// host end transmits them, which is the pod's receive.
func (n *podNode) toPod(p *xdptest.Pair, pod string, rounds int, keep func(xdptest.Frame) bool) {
	n.t.Helper()
	var sent xdptest.Totals
	sendFrames(n.t, p, rounds, &sent, keep)
	n.add(podAt{pod, p.Host, viewOf(pod, bpf.Transmit)}, tx(p.Host), &sent)
}

// viewOf is how the receiver names the direction dir of the host end of
// pod's veth: the pod's view, the opposite, or the interface's own for no
// pod.
func viewOf(pod string, dir bpf.Direction) string {
	if pod == "" {
		return dir.String()
	}
	return map[bpf.Direction]bpf.Direction{bpf.Receive: bpf.Transmit, bpf.Transmit: bpf.Receive}[dir].String()
}

func (n *podNode) add(where podAt, kernel at, sent *xdptest.Totals) {
	addTotals(totalsAt(n.want, where), sent)
	addTotals(totalsAt(n.sent, kernel), sent)
}

func addTotals(into, from *xdptest.Totals) {
	for i := range from {
		into[i].Packets += from[i].Packets
		into[i].Bytes += from[i].Bytes
	}
}

// inKernel waits until the kernel counted everything sent through p's
// host end, as its counters map holds it, without a scrape: what a change
// of pod must then attribute to the owner before it, at its own read.
func (n *podNode) inKernel(p *xdptest.Pair) {
	n.t.Helper()
	n.s.mu.Lock()
	slot := n.s.found.ifaces[p.Host].tap.(*builtinTap[*bpf.Interface]).ifc.Slot()
	n.s.mu.Unlock()
	progs := xdptest.TCXPrograms(n.t, p.Host)
	require.NotEmpty(n.t, progs, "%s: no program counts", p.Host)
	counters := xdptest.ProgramMap(n.t, progs[0], "counters")
	var kernel bpf.Counts
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		perCPU := []bpf.Counts{}
		require.NoError(n.t, counters.Lookup(slot, &perCPU))
		kernel = bpf.Counts{}
		for i := range perCPU {
			for d := range perCPU[i].Dir {
				addTotals(&kernel.Dir[d], &perCPU[i].Dir[d])
			}
		}
		if kernel.Dir[bpf.Receive] == *totalsAt(n.sent, rx(p.Host)) && kernel.Dir[bpf.Transmit] == *totalsAt(n.sent, tx(p.Host)) {
			return
		}
	}
	n.t.Fatalf("%s: the kernel counted %v, want received %v, transmitted %v", p.Host, kernel, n.sent[rx(p.Host)], n.sent[tx(p.Host)])
}

// scrape ticks the controller and returns the scrape it hands on.
func (n *podNode) scrape() pmetric.Metrics {
	n.t.Helper()
	k := len(n.sink.AllMetrics())
	n.tick <- time.Now()
	return waitForScrapes(n.t, n.sink, k+1)[k]
}

// got adds up every point handed on so far by resource, interface and
// direction, and by interface and the kernel's direction.
func (n *podNode) got() (byPod map[podAt]*xdptest.Totals, byKernel map[at]*xdptest.Totals) {
	byPod, byKernel = map[podAt]*xdptest.Totals{}, map[at]*xdptest.Totals{}
	for _, md := range n.sink.AllMetrics() {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			pod := ""
			if v, ok := rm.Resource().Attributes().Get(keyPod); ok {
				pod = v.Str()
			}
			forEachPoint(rmMetrics(rm), func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
				k := keyOf(m, dp)
				dir, err := bpf.ParseDirection(k.direction)
				require.NoError(n.t, err)
				kernel := dir
				if pod != "" {
					kernel = map[bpf.Direction]bpf.Direction{bpf.Receive: bpf.Transmit, bpf.Transmit: bpf.Receive}[dir]
				}
				c := bpf.Class{Network: classNetwork(k.network), Transport: classTransport(k.transport)}.Index()
				for _, into := range []*xdptest.Totals{
					totalsAt(byPod, podAt{pod, k.iface, k.direction}),
					totalsAt(byKernel, at{k.iface, kernel}),
				} {
					switch k.metric {
					case "xdp.packets":
						into[c].Packets += uint64(dp.IntValue())
					case "xdp.bytes":
						into[c].Bytes += uint64(dp.IntValue())
					}
				}
			})
		}
	}
	return byPod, byKernel
}

func totalsAt[K comparable](m map[K]*xdptest.Totals, k K) *xdptest.Totals {
	if m[k] == nil {
		m[k] = &xdptest.Totals{}
	}
	return m[k]
}

// counted scrapes until the points add up to everything sent so far,
// where it must be reported: frames cross a veth asynchronously. Then it
// waits for stragglers and scrapes once more, which must add nothing.
func (n *podNode) counted() {
	n.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		n.scrape()
		if got, _ := n.got(); totalsEqual(got, n.want) {
			break
		}
	}
	time.Sleep(50 * time.Millisecond)
	n.scrape()
	n.requireExact()
}

func totalsEqual[K comparable](got, want map[K]*xdptest.Totals) bool {
	for k, w := range want {
		if g := got[k]; g == nil || *g != *w {
			return false
		}
	}
	for k, g := range got {
		if want[k] == nil && *g != (xdptest.Totals{}) {
			return false
		}
	}
	return true
}

// requireExact: the points add up to what was sent, class by class, in
// the resource and the direction where each frame belongs, and, summed
// over resources, to what each interface counted each way: nothing lost,
// nothing counted twice, nothing elsewhere.
func (n *podNode) requireExact() {
	n.t.Helper()
	byPod, byKernel := n.got()
	compareTotals(n.t, "resource, interface, direction", byPod, n.want)
	compareTotals(n.t, "interface, the kernel's direction", byKernel, n.sent)
	if n.t.Failed() {
		n.t.FailNow()
	}
}

func compareTotals[K interface {
	comparable
	fmt.Stringer
}](t *testing.T, by string, got, want map[K]*xdptest.Totals) {
	t.Helper()
	for k, w := range want {
		g := totalsAt(got, k)
		for i := range w {
			assert.Equal(t, w[i], g[i], "by %s: %v: class %v: {packets, bytes} = %v, want %v", by, k, bpf.ClassAt(i), g[i], w[i])
		}
	}
	for k, g := range got {
		if want[k] == nil {
			assert.Zero(t, *g, "by %s: %v: counts where nothing was sent", by, k)
		}
	}
}

// finish shuts the receiver down, which hands on a final collection, and
// checks everything it handed on: exact counts, the series' intervals,
// and, summed per series, the golden file testdata/golden/name.yaml.
func (n *podNode) finish(name string) {
	n.t.Helper()
	require.NoError(n.t, n.r.Shutdown(n.t.Context()))
	n.requireExact()
	requireContiguous(n.t, n.sink.AllMetrics(), n.clk)
	requirePodGolden(n.t, name, n.sink.AllMetrics(), n.stand)
}

// requireContiguous checks the intervals of every point handed on. An
// epoch is an interface's series under one resource: they start together,
// at an attachment (a reading of clk) for an interface's first, or where
// the series of the epoch before on the interface ended, for a change of
// pod; and each series' points follow each other without gap or overlap.
func requireContiguous(t *testing.T, mds []pmetric.Metrics, clk *recClock) {
	t.Helper()
	type epoch struct{ pod, iface string }
	type span struct{ start, end pcommon.Timestamp }
	last := map[podSeries]pcommon.Timestamp{}
	epochs := map[epoch]*span{}
	for _, md := range mds {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			v, _ := rm.Resource().Attributes().Get(keyPod)
			forEachPoint(rmMetrics(rm), func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
				k := podSeries{v.Str(), keyOf(m, dp)}
				e := epoch{k.pod, k.iface}
				assert.Greater(t, dp.Timestamp(), dp.StartTimestamp(), "%v: empty or reversed interval", k)
				if end, ok := last[k]; ok {
					assert.Equal(t, end, dp.StartTimestamp(), "%v: a point does not start where the previous one ended", k)
				} else if epochs[e] == nil {
					epochs[e] = &span{dp.StartTimestamp(), dp.Timestamp()}
				} else {
					assert.Equal(t, epochs[e].start, dp.StartTimestamp(), "%v: a series that starts apart from its epoch's", k)
				}
				last[k] = dp.Timestamp()
				epochs[e].end = max(epochs[e].end, dp.Timestamp())
			})
		}
	}
	readings := map[pcommon.Timestamp]bool{}
	for i := range clk.len() {
		readings[clk.reading(i)] = true
	}
	byIface := map[string][]epoch{}
	for e := range epochs {
		byIface[e.iface] = append(byIface[e.iface], e)
	}
	for iface, es := range byIface {
		slices.SortFunc(es, func(a, b epoch) int { return cmp.Compare(epochs[a].start, epochs[b].start) })
		assert.True(t, readings[epochs[es[0]].start], "%s: the first series start at %v, no reading of the clock", iface, epochs[es[0]].start)
		for i := 1; i < len(es); i++ {
			assert.Equal(t, epochs[es[i-1]].end, epochs[es[i]].start,
				"%s: the series of %q start at %v, not where those of %q ended", iface, es[i].pod, epochs[es[i]].start, es[i-1].pod)
		}
	}
}

// requirePodGolden compares the points of mds, summed per resource and
// series, with testdata/golden/name.yaml, timestamps left out: how many
// scrapes a frame takes to show varies, what adds up does not. Interface
// names and pod IPs, which vary from run to run, are given as stand.
func requirePodGolden(t *testing.T, name string, mds []pmetric.Metrics, stand map[string]string) {
	t.Helper()
	md := sumSeries(t, mds, stand)
	path := filepath.Join("testdata", "golden", name+".yaml")
	if *update {
		require.NoError(t, golden.WriteMetrics(t, path, md))
	}
	want, err := golden.ReadMetrics(path)
	require.NoError(t, err)
	require.NoError(t, pmetrictest.CompareMetrics(want, md,
		pmetrictest.IgnoreStartTimestamp(), pmetrictest.IgnoreTimestamp(),
		pmetrictest.IgnoreResourceMetricsOrder(), pmetrictest.IgnoreMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder()))
}

// sumSeries is one Metrics of every point of mds, summed per resource and
// series, with zero timestamps, its interface names and pod IPs replaced
// by their stand-ins; a name or IP with none stays as it is, and fails
// the comparison.
func sumSeries(t *testing.T, mds []pmetric.Metrics, stand map[string]string) pmetric.Metrics {
	t.Helper()
	replace := func(m pcommon.Map, key string) {
		if v, ok := m.Get(key); ok {
			if s, ok := stand[v.Str()]; ok {
				v.SetStr(s)
			}
		}
	}
	out := pmetric.NewMetrics()
	resources := map[string]pmetric.ResourceMetrics{}
	metrics := map[string]pmetric.Metric{}
	points := map[string]pmetric.NumberDataPoint{}
	for _, md := range mds {
		for i := 0; i < md.ResourceMetrics().Len(); i++ {
			rm := md.ResourceMetrics().At(i)
			res := pcommon.NewResource()
			rm.Resource().CopyTo(res)
			replace(res.Attributes(), keyPod)
			rkey := fmt.Sprint(res.Attributes().AsRaw())
			orm, ok := resources[rkey]
			if !ok {
				orm = out.ResourceMetrics().AppendEmpty()
				res.CopyTo(orm.Resource())
				orm.SetSchemaUrl(rm.SchemaUrl())
				resources[rkey] = orm
			}
			require.Equal(t, 1, rm.ScopeMetrics().Len(), "one scope per resource")
			sm := rm.ScopeMetrics().At(0)
			if orm.ScopeMetrics().Len() == 0 {
				osm := orm.ScopeMetrics().AppendEmpty()
				sm.Scope().CopyTo(osm.Scope())
				osm.SetSchemaUrl(sm.SchemaUrl())
			}
			osm := orm.ScopeMetrics().At(0)
			for j := 0; j < sm.Metrics().Len(); j++ {
				m := sm.Metrics().At(j)
				mkey := rkey + " " + m.Name()
				om, ok := metrics[mkey]
				if !ok {
					om = osm.Metrics().AppendEmpty()
					om.SetName(m.Name())
					om.SetDescription(m.Description())
					om.SetUnit(m.Unit())
					om.SetEmptySum().SetAggregationTemporality(m.Sum().AggregationTemporality())
					om.Sum().SetIsMonotonic(m.Sum().IsMonotonic())
					metrics[mkey] = om
				}
				for p := 0; p < m.Sum().DataPoints().Len(); p++ {
					dp := m.Sum().DataPoints().At(p)
					attrs := pcommon.NewMap()
					dp.Attributes().CopyTo(attrs)
					replace(attrs, keyInterface)
					pkey := mkey + " " + fmt.Sprint(attrs.AsRaw())
					odp, ok := points[pkey]
					if !ok {
						odp = om.Sum().DataPoints().AppendEmpty()
						attrs.CopyTo(odp.Attributes())
						points[pkey] = odp
					}
					odp.SetIntValue(odp.IntValue() + dp.IntValue())
				}
			}
		}
	}
	return out
}

// frameNamed keeps the frames of xdptest.Frames with one of names.
func frameNamed(names ...string) func(xdptest.Frame) bool {
	for _, name := range names {
		if !slices.ContainsFunc(xdptest.Frames(), func(f xdptest.Frame) bool { return f.Name == name }) {
			panic("no frame " + name)
		}
	}
	return func(f xdptest.Frame) bool { return slices.Contains(names, f.Name) }
}

// Frames each way: different classes, so that a direction reported on the
// wrong side shows in its classes as well as in its counts.
var (
	ipv4Out = frameNamed("ipv4/tcp", "ipv4/udp")
	ipv4In  = frameNamed("ipv4/icmp", "arp")
	ipv6Out = frameNamed("ipv6/tcp", "ipv6/udp ext headers")
	ipv6In  = frameNamed("ipv6/icmp")
)

// TestKernelRoutedPod is a routed IPv4 pod (a /32 of scope link through
// its veth, as Calico or the ptp plugin adds it) beside a veth of no pod:
// the pod's veth reports in a resource of its own with k8s.pod.ip, in the
// pod's view of direction, the other in the node's, in its own view.
func TestKernelRoutedPod(t *testing.T) {
	t.Parallel()
	xdptest.Privileged(t)
	pod, other := xdptest.NewPair(t), xdptest.NewPair(t)
	ip := xdptest.PodRoute(t, pod.HostIndex, false)
	n := startPodNode(t, nil, pod.Host, other.Host)
	n.as(pod.Host, "POD_VETH")
	n.as(other.Host, "NO_POD_VETH")
	n.as(ip.String(), "POD_IPV4")
	n.waitPod(pod.HostIndex, ip)

	n.fromPod(pod, ip.String(), 3, ipv4Out)
	n.toPod(pod, ip.String(), 2, ipv4In)
	n.fromPod(other, "", 2, ipv4Out)
	n.toPod(other, "", 1, ipv4In)
	n.counted()
	n.finish("kernel_pods_routed_ipv4")
}

// TestKernelRoutedPodIPv6 is a routed IPv6 pod: a /128 through its veth.
func TestKernelRoutedPodIPv6(t *testing.T) {
	t.Parallel()
	xdptest.Privileged(t)
	pod := xdptest.NewPair(t)
	pod.EnableIPv6(t)
	ip := xdptest.PodRoute(t, pod.HostIndex, true)
	n := startPodNode(t, nil, pod.Host)
	n.as(pod.Host, "POD_VETH")
	n.as(ip.String(), "POD_IPV6")
	n.waitPod(pod.HostIndex, ip)

	n.fromPod(pod, ip.String(), 3, ipv6Out)
	n.toPod(pod, ip.String(), 2, ipv6In)
	n.counted()
	n.finish("kernel_pods_routed_ipv6")
}

// TestKernelNoPod is a veth of no pod with routes through it that are
// none of a pod's (a subnet, and a /32 of scope universe, a route to
// somewhere beyond the link): it stays in the node's resource, in its own
// view. A pod's route through another veth, added after them and learnt,
// shows that the receiver has seen them.
func TestKernelNoPod(t *testing.T) {
	t.Parallel()
	xdptest.Privileged(t)
	veth, witness := xdptest.NewPair(t), xdptest.NewPair(t)
	n := startPodNode(t, nil, veth.Host)
	n.as(veth.Host, "NO_POD_VETH")
	var r [2]byte
	_, err := rand.Read(r[:])
	require.NoError(t, err)
	subnet := netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, r[0], r[1] &^ 3}), 30)
	for _, r := range []*netlink.Route{
		{LinkIndex: veth.HostIndex, Dst: &net.IPNet{IP: subnet.Addr().AsSlice(), Mask: net.CIDRMask(30, 32)}, Scope: netlink.SCOPE_LINK},
		{LinkIndex: veth.HostIndex, Dst: &net.IPNet{IP: subnet.Addr().Next().AsSlice(), Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_UNIVERSE},
	} {
		require.NoError(t, netlink.RouteAdd(r), "route %v", r)
		t.Cleanup(func() { _ = netlink.RouteDel(r) })
	}
	n.waitPod(witness.HostIndex, xdptest.PodRoute(t, witness.HostIndex, false))
	n.waitPod(veth.HostIndex, netip.Addr{})

	n.fromPod(veth, "", 3, ipv4Out)
	n.toPod(veth, "", 2, ipv4In)
	n.counted()
	n.finish("kernel_pods_no_pod")
}

// TestKernelBridgePods is two pods on a bridge, as the bridge plugin and
// flannel's cni0 make them: each pod's veth is a port, the bridge learnt
// the pod's MAC behind it and the pod's IP at that MAC from the pod's ARP
// for its gateway. Each port reports in its pod's resource, in its pod's
// view.
func TestKernelBridgePods(t *testing.T) {
	t.Parallel()
	xdptest.Privileged(t)
	br := xdptest.NewBridge(t)
	a, b := xdptest.NewPair(t), xdptest.NewPair(t)
	br.Port(t, a)
	br.Port(t, b)
	ipA, ipB := br.PodIP(0), br.PodIP(1)
	br.Learn(t, a, ipA)
	br.Learn(t, b, ipB)
	n := startPodNode(t, nil, a.Host, b.Host)
	n.as(a.Host, "POD_A_PORT")
	n.as(b.Host, "POD_B_PORT")
	n.as(ipA.String(), "POD_A_IPV4")
	n.as(ipB.String(), "POD_B_IPV4")
	n.waitPod(a.HostIndex, ipA)
	n.waitPod(b.HostIndex, ipB)

	n.fromPod(a, ipA.String(), 3, ipv4Out)
	n.toPod(a, ipA.String(), 1, ipv4In)
	n.fromPod(b, ipB.String(), 1, ipv4Out)
	n.toPod(b, ipB.String(), 2, ipv4In)
	n.counted()
	n.finish("kernel_pods_bridge")
}

// TestKernelPodRouteAfterVeth is a CNI's order: the veth first, counted as
// the node's while it has no route, then the pod's route. The veth's
// series under the node end where its pod's start, and the two add up to
// what it counted.
func TestKernelPodRouteAfterVeth(t *testing.T) {
	t.Parallel()
	xdptest.Privileged(t)
	veth := xdptest.NewPair(t)
	n := startPodNode(t, nil, veth.Host)
	n.as(veth.Host, "POD_VETH")

	n.fromPod(veth, "", 2, ipv4Out)
	n.toPod(veth, "", 1, ipv4In)
	n.counted()
	// Counted, not yet collected when the route comes: still the node's.
	n.fromPod(veth, "", 1, ipv4Out)
	n.toPod(veth, "", 1, ipv4In)
	n.inKernel(veth)

	ip := xdptest.PodRoute(t, veth.HostIndex, false)
	n.as(ip.String(), "POD_IPV4")
	n.waitPod(veth.HostIndex, ip)
	n.fromPod(veth, ip.String(), 3, ipv4Out)
	n.toPod(veth, ip.String(), 2, ipv4In)
	n.counted()
	n.finish("kernel_pods_route_after_veth")
}

// TestKernelPodIPTaken is a pod deleted, veth and all, and its IP taken by
// a new pod on a new veth, which a pattern matches: counted as the node's
// until its route comes, then as the pod's. The old veth's series end
// with it, under the pod; the new one's under the node end where the
// pod's start.
func TestKernelPodIPTaken(t *testing.T) {
	t.Parallel()
	xdptest.Privileged(t)
	ps := xdptest.NewPairs(t, 1)
	old := ps.Pairs[0]
	ip := xdptest.PodRoute(t, old.HostIndex, false)
	n := startPodNode(t, nil, ps.Prefix+"*")
	n.as(old.Host, "OLD_POD_VETH")
	n.as(ip.String(), "POD_IPV4")
	n.waitCounted(old.HostIndex, true)
	n.waitPod(old.HostIndex, ip)
	n.fromPod(old, ip.String(), 2, ipv4Out)
	n.toPod(old, ip.String(), 1, ipv4In)
	n.counted()
	// Counted, not yet collected when the pod goes: still its.
	n.fromPod(old, ip.String(), 1, ipv4Out)
	n.inKernel(old)

	oldIndex := old.HostIndex
	old.DeleteHost(t) // its route goes with it
	n.waitCounted(oldIndex, false)
	n.waitPod(oldIndex, netip.Addr{})
	ps.Add(t, 1)
	veth := ps.Pairs[1]
	n.as(veth.Host, "NEW_POD_VETH")
	n.waitCounted(veth.HostIndex, true)
	n.fromPod(veth, "", 1, ipv4Out)
	n.toPod(veth, "", 2, ipv4In)
	n.counted()
	n.fromPod(veth, "", 1, ipv4Out)
	n.inKernel(veth)

	xdptest.AddPodRoute(t, veth.HostIndex, ip)
	n.waitPod(veth.HostIndex, ip)
	n.fromPod(veth, ip.String(), 3, ipv4Out)
	n.toPod(veth, ip.String(), 1, ipv4In)
	n.counted()
	n.finish("kernel_pods_ip_taken")
}

// TestKernelDualStackPod is a pod with an IPv4 and an IPv6 route through
// its veth: its resource's k8s.pod.ip is the address of pods.ip_family,
// IPv4 by default, and it counts both families' frames.
func TestKernelDualStackPod(t *testing.T) {
	t.Parallel()
	for _, family := range []string{"", "ipv4", "ipv6"} {
		t.Run("ip_family "+family, func(t *testing.T) {
			t.Parallel()
			xdptest.Privileged(t)
			pod := xdptest.NewPair(t)
			pod.EnableIPv6(t)
			ip6 := xdptest.PodRoute(t, pod.HostIndex, true)
			ip4 := xdptest.PodRoute(t, pod.HostIndex, false)
			n := startPodNode(t, func(c *Config) {
				if family != "" {
					c.Pods.IPFamily = family
				}
			}, pod.Host)
			n.as(pod.Host, "POD_VETH")
			n.as(ip4.String(), "POD_IPV4")
			n.as(ip6.String(), "POD_IPV6")
			ip := ip4
			if family == "ipv6" {
				ip = ip6
			}
			n.waitPod(pod.HostIndex, ip)

			n.fromPod(pod, ip.String(), 3, ipv4Out)
			n.fromPod(pod, ip.String(), 2, ipv6Out)
			n.toPod(pod, ip.String(), 2, ipv4In)
			n.toPod(pod, ip.String(), 1, ipv6In)
			n.counted()
			n.finish("kernel_pods_dual_stack_" + map[string]string{"": "ipv4", "ipv4": "ipv4", "ipv6": "ipv6"}[family])
		})
	}
}

// rmMetrics is rm alone, as Metrics, for forEachPoint.
func rmMetrics(rm pmetric.ResourceMetrics) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm.CopyTo(md.ResourceMetrics().AppendEmpty())
	return md
}
