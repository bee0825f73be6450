//go:build linux

package xdpreceiver

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// BenchmarkKernelScale runs the receiver against the real kernel on 1, 16,
// 128 and 512 veths under one pattern, both directions counted, each
// interface counting in 11 classes each way, through TCX links and, for
// comparison, through the legacy clsact filters that kernels before 6.6
// get. It reports:
//
//   - start-ms: how long start takes (what the pattern matches is attached
//     afterwards, in the background);
//   - attach-ms: from start to every interface attached both ways;
//   - stop-ms: how long shutdown takes, detaching everything;
//   - ns/op: one scrape, the kernel's read and the pdata, with every series
//     active and every interface counting each way between scrapes;
//   - idle-scrape-ms: one scrape when nothing was counted since the one
//     before, which asks the kernel whether each program is still attached;
//   - kernel-KiB: the kernel memory the datapath holds, its maps' and
//     programs' memlock as /proc/self/fdinfo gives it.
func BenchmarkKernelScale(b *testing.B) {
	for _, n := range []int{1, 16, 128, 512} {
		for _, hook := range []string{"tcx", "clsact"} {
			b.Run(fmt.Sprintf("hook=%s/interfaces=%d", hook, n), func(b *testing.B) {
				benchmarkKernelScale(b, n, hook == "clsact")
			})
		}
	}
}

func benchmarkKernelScale(b *testing.B, n int, legacy bool) {
	ps := xdptest.NewPairs(b, n)
	cfg := testConfig(ps.Prefix + "*")
	cfg.Directions = []string{"receive", "transmit"}
	kern := linuxKernel()
	load := kern.loadDatapath
	kern.loadDatapath = func(opts bpf.Options) (datapath[*bpf.Interface], error) {
		opts.TCLegacy = legacy
		return load(opts)
	}
	// The medians of three starts and stops.
	var starts, attaches, stops []time.Duration
	var s *xdpScraper
	for i := range 3 {
		s = newScraper(cfg, nopSettings(), kern, time.Now)
		t0 := time.Now()
		if err := s.start(b.Context(), nil); err != nil {
			b.Fatal(err)
		}
		starts = append(starts, time.Since(t0))
		s.mu.Lock()
		w := s.watch
		s.mu.Unlock()
		<-w.listed
		attaches = append(attaches, time.Since(t0))
		if got := attachedBothWays(s); got != n {
			b.Fatalf("%d of %d interfaces attached both ways after the listing", got, n)
		}
		if i < 2 {
			t0 = time.Now()
			if err := s.shutdown(b.Context()); err != nil {
				b.Fatal(err)
			}
			stops = append(stops, time.Since(t0))
		}
	}
	defer s.shutdown(b.Context())
	median := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2].Microseconds()) / 1000
	}
	kernelBytes, err := bpfMemlock()
	if err != nil {
		b.Fatal(err)
	}

	// 11 classes each way on every interface.
	var classes []xdptest.Frame
	seen := map[bpf.Class]bool{}
	for _, f := range xdptest.Frames() {
		if !seen[f.Class] && len(classes) < activeClasses {
			seen[f.Class] = true
			classes = append(classes, f)
		}
	}
	for _, p := range ps.Pairs {
		for _, f := range classes {
			p.Inject(b, f.Data)
			p.Send(b, f.Data)
		}
	}
	want := n * activeClasses * bpf.NumDirections * 2
	scrapeAll := func() {
		md, err := s.scrape(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if got := md.DataPointCount(); got != want {
			b.Fatalf("%d points, want %d", got, want)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		md, err := s.scrape(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if md.DataPointCount() == want {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d points after 5s, want %d", md.DataPointCount(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var idle time.Duration
	for range 5 {
		t0 := time.Now()
		scrapeAll()
		idle += time.Since(t0)
	}
	busy := classes[0].Data
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for _, p := range ps.Pairs {
			p.Inject(b, busy)
			p.Send(b, busy)
		}
		time.Sleep(time.Millisecond) // across the veths
		b.StartTimer()
		scrapeAll()
	}
	b.ReportMetric(float64(idle.Microseconds())/5000, "idle-scrape-ms")
	b.ReportMetric(median(starts), "start-ms")
	b.ReportMetric(median(attaches), "attach-ms")
	b.ReportMetric(median(stops), "stop-ms")
	b.ReportMetric(float64(kernelBytes)/1024, "kernel-KiB")
}

// attachedBothWays is how many of s's interfaces are attached, with both
// directions hooked.
func attachedBothWays(s *xdpScraper) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ifc := range s.found.ifaces {
		if ifc.state == stateAttached && len(ifc.tap.placements()) == bpf.NumDirections {
			n++
		}
	}
	return n
}

// bpfMemlock sums the memlock that /proc/self/fdinfo shows for every BPF
// map and program this process holds: the kernel memory charged for them.
func bpfMemlock() (int64, error) {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || (target != "anon_inode:bpf-map" && target != "anon_inode:bpf-prog") {
			continue
		}
		f, err := os.Open("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "memlock:"); ok {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				if err == nil {
					sum += n
				}
			}
		}
		f.Close()
	}
	return sum, nil
}

// BenchmarkKernelPods runs the receiver against the real kernel on 500
// pods' veths: host ends with a /32 route of scope link each, as a routed
// CNI (Calico, the ptp plugin) leaves them, under one pattern. It reports:
//
//   - start-ms and pods-start-ms: how long start takes with pods not
//     attributed and attributed, the medians of 6 starts each, in turn,
//     which goes first alternating (the pod watch, like what the pattern
//     matches, starts in the background); each receiver is shut down at
//     once;
//   - pods-ms: from start to every interface attributed to its pod, the
//     median of the same 6 starts;
//   - ns/op and route-ms (its median): from a pod's route added with
//     netlink to the receiver attributing the host end to the pod, which
//     the next scrape reports it under, with every interface attached.
//     Each op deletes a route first, and waits for the receiver to
//     attribute the interface to no pod, outside the timer.
func BenchmarkKernelPods(b *testing.B) {
	const n = 500
	ps := xdptest.NewPairs(b, n)
	routes := make([]*netlink.Route, n)
	ips := make([]string, n)
	for i, p := range ps.Pairs {
		ip := benchPodIP(b, p.HostIndex)
		ips[i] = ip.String()
		routes[i] = &netlink.Route{LinkIndex: p.HostIndex, Dst: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(32, 32)}, Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteAdd(routes[i]); err != nil {
			b.Fatalf("adding the route to %s through %q: %v", ip, p.Host, err)
		}
		r := routes[i]
		b.Cleanup(func() { _ = netlink.RouteDel(r) }) // deleting the veth deletes it too
	}
	// attributed is how many of the pairs' host ends s attributes to their
	// pods; with attached, how many of those that are attached.
	attributed := func(s *xdpScraper, attached bool) int {
		s.mu.Lock()
		defer s.mu.Unlock()
		k := 0
		for i, p := range ps.Pairs {
			if attached {
				if ifc := s.life.byIndex[p.HostIndex]; ifc != nil && ifc.pod == ips[i] {
					k++
				}
			} else if s.life.pods[p.HostIndex] == ips[i] {
				k++
			}
		}
		return k
	}
	newReceiver := func(withPods bool) *xdpScraper {
		cfg := testConfig(ps.Prefix + "*")
		cfg.Directions = []string{"receive", "transmit"}
		cfg.Pods.Enabled = withPods
		return newScraper(cfg, nopSettings(), linuxKernel(), time.Now)
	}

	var starts [2][]time.Duration
	var known []time.Duration
	for round := range 6 {
		for _, k := range [][]int{{0, 1}, {1, 0}}[round%2] {
			withPods := k == 1
			s := newReceiver(withPods)
			t0 := time.Now()
			if err := s.start(b.Context(), nil); err != nil {
				b.Fatal(err)
			}
			starts[k] = append(starts[k], time.Since(t0))
			if withPods {
				waitFor(b, func() bool { return attributed(s, false) == n }, "every interface attributed to its pod")
				known = append(known, time.Since(t0))
			}
			if err := s.shutdown(b.Context()); err != nil {
				b.Fatal(err)
			}
		}
	}

	s := newReceiver(true)
	if err := startListed(b, s, nil); err != nil {
		b.Fatal(err)
	}
	defer s.shutdown(b.Context())
	if got := attachedBothWays(s); got != n {
		b.Fatalf("%d of %d interfaces attached both ways after the listing", got, n)
	}
	waitFor(b, func() bool { return attributed(s, true) == n }, "every attached interface attributed to its pod")
	pod := func(i int) string {
		s.mu.Lock()
		defer s.mu.Unlock()
		if ifc := s.life.byIndex[ps.Pairs[i].HostIndex]; ifc != nil {
			return ifc.pod
		}
		return ""
	}
	var took []time.Duration
	i := 0
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		i = (i + 1) % n
		if err := netlink.RouteDel(routes[i]); err != nil {
			b.Fatal(err)
		}
		waitFor(b, func() bool { return pod(i) == "" }, "the interface attributed to no pod")
		b.StartTimer()
		t0 := time.Now()
		if err := netlink.RouteAdd(routes[i]); err != nil {
			b.Fatal(err)
		}
		waitFor(b, func() bool { return pod(i) == ips[i] }, "the interface attributed to its pod")
		took = append(took, time.Since(t0))
	}
	b.StopTimer()
	b.ReportMetric(medianMs(took), "route-ms")
	b.ReportMetric(medianMs(starts[0]), "start-ms")
	b.ReportMetric(medianMs(starts[1]), "pods-start-ms")
	b.ReportMetric(medianMs(known), "pods-ms")
}

// benchPodIP is the pod IP of the veth whose host end has index: one of
// 198.19.0.0/16 of its own, as in TestKernelRoutedPod, which other tests'
// routes, in the same namespace at the same time, have not.
func benchPodIP(b *testing.B, index int) netip.Addr {
	if index > 0xffff {
		b.Fatalf("interface index %d: no pod IP of its own in 198.19.0.0/16", index)
	}
	return netip.AddrFrom4([4]byte{198, 19, byte(index >> 8), byte(index)})
}

// waitFor spins until cond holds, for at most 10 s: what it waits for
// takes microseconds to milliseconds, which a sleep would round up.
func waitFor(b *testing.B, cond func() bool, what string) {
	for deadline := time.Now().Add(10 * time.Second); !cond(); runtime.Gosched() {
		if time.Now().After(deadline) {
			b.Fatalf("waited 10 s for %s", what)
		}
	}
}

func medianMs(ds []time.Duration) float64 {
	slices.Sort(ds)
	return float64(ds[len(ds)/2].Nanoseconds()) / 1e6
}
