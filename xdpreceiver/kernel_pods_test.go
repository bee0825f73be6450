//go:build linux

package xdpreceiver

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestKernelRoutedPod: the host end of a routed pod's veth (a /32 route
// of scope link through it, as Calico or the ptp plugin adds) reports in
// a resource of its own with k8s.pod.ip, from package pods on the real
// kernel, in the pod's view of direction: the frames the pod sent, which
// arrive on the host end, are the pod's transmit, and those sent to it
// its receive, exactly. A veth of no pod stays in the node's resource, in
// its own view.
func TestKernelRoutedPod(t *testing.T) {
	xdptest.Privileged(t)
	pod, other := xdptest.NewPair(t), xdptest.NewPair(t)
	ip := netip.AddrFrom4([4]byte{198, 19, byte(pod.HostIndex >> 8), byte(pod.HostIndex)})
	route := &netlink.Route{LinkIndex: pod.HostIndex, Dst: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_LINK}
	require.NoError(t, netlink.RouteAdd(route))
	t.Cleanup(func() { _ = netlink.RouteDel(route) })

	cfg := testConfig(pod.Host, other.Host)
	cfg.Directions = []string{"receive", "transmit"}
	s, _, _ := startKernelScraper(t, cfg)
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.life.pods[pod.HostIndex] == ip.String()
	}, 5*time.Second, 10*time.Millisecond, "the receiver learns the pod of %s from its route", pod.Host)

	var sent, received, otherIn xdptest.Totals
	injectFrames(t, pod, 2, &sent, all)    // from the pod: its transmit
	frames(t, pod.Send, 1, &received, all) // to the pod: its receive
	injectFrames(t, other, 1, &otherIn, all)

	// resource, interface, direction -> packets
	type key struct{ pod, iface, dir string }
	got := map[key]uint64{}
	want := map[key]uint64{
		{ip.String(), pod.Host, "transmit"}: sum(sent),
		{ip.String(), pod.Host, "receive"}:  sum(received),
		{"", other.Host, "receive"}:         sum(otherIn),
	}
	scrape := mustScrape(t, s)
	deadline := time.Now().Add(5 * time.Second)
	for {
		md := scrape()
		for i := range md.ResourceMetrics().Len() {
			rm := md.ResourceMetrics().At(i)
			podIP := ""
			if v, ok := rm.Resource().Attributes().Get("k8s.pod.ip"); ok {
				podIP = v.Str()
			}
			forEachPoint(rmMetrics(rm), func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
				if m.Name() != "xdp.packets" {
					return
				}
				iface, _ := dp.Attributes().Get("network.interface.name")
				dir, _ := dp.Attributes().Get("network.io.direction")
				got[key{podIP, iface.Str(), dir.Str()}] += uint64(dp.IntValue())
			})
		}
		if assert.ObjectsAreEqual(want, got) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	assert.Equal(t, want, got, "packets by k8s.pod.ip, interface and direction")
}

// sum is the packets of every class of t.
func sum(t xdptest.Totals) uint64 {
	var n uint64
	for _, c := range t {
		n += c.Packets
	}
	return n
}

// rmMetrics is rm alone, as Metrics, for forEachPoint.
func rmMetrics(rm pmetric.ResourceMetrics) pmetric.Metrics {
	md := pmetric.NewMetrics()
	rm.CopyTo(md.ResourceMetrics().AppendEmpty())
	return md
}
