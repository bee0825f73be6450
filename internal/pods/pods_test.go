//go:build linux

package pods

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// node is a host network namespace of a test's own, with Watch running in
// it.
type node struct {
	ns     *xdptest.Namespace
	h      *netlink.Handle
	events chan Event
	now    map[int][]netip.Addr // the answers the events gave so far
	seen   map[int]int          // events per interface
}

// newNode makes a node namespace; watch starts Watch in it.
func newNode(t testing.TB) *node {
	t.Helper()
	ns := xdptest.NewNamespace(t, true)
	return &node{ns: ns, h: ns.Handle(t), events: make(chan Event, 1024), now: map[int][]netip.Addr{}, seen: map[int]int{}}
}

func (n *node) watch(t testing.TB) {
	t.Helper()
	n.watchWith(t, options{ns: n.ns.Fd(), bufferSize: bufferSize})
}

func (n *node) watchWith(t testing.TB, o options) {
	t.Helper()
	done := make(chan struct{})
	var (
		mu   sync.Mutex
		errs []error
	)
	onErr := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	if err := watchAt(o, n.events, done, onErr); err != nil {
		t.Fatalf("watch: %v", err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, err := range errs {
			t.Errorf("watch reported: %v", err)
		}
		close(done)
	})
}

func randomName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// veth makes a pod: a namespace of its own holding the peer, eth0, up
// with the addresses addrs (IPv6 on if one is IPv6), and the host end in
// the node, up. It returns
// the host end's index and the pod's namespace.
func (n *node) veth(t testing.TB, addrs ...string) (int, *xdptest.Namespace) {
	t.Helper()
	ipv6 := false
	for _, a := range addrs {
		ipv6 = ipv6 || netip.MustParsePrefix(a).Addr().Is6()
	}
	pod := xdptest.NewNamespace(t, ipv6)
	name := randomName("pod")
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: "eth0", PeerNamespace: netlink.NsFd(pod.Fd())}
	if err := n.h.LinkAdd(veth); err != nil {
		t.Fatalf("creating veth %q: %v", name, err)
	}
	host, err := n.h.LinkByName(name)
	if err == nil {
		err = n.h.LinkSetUp(host)
	}
	if err != nil {
		t.Fatalf("setting %q up: %v", name, err)
	}
	ph := pod.Handle(t)
	eth0, err := ph.LinkByName("eth0")
	if err == nil {
		err = ph.LinkSetUp(eth0)
	}
	for _, a := range addrs {
		if err != nil {
			break
		}
		var addr *netlink.Addr
		if addr, err = netlink.ParseAddr(a); err == nil {
			// Usable at once: a tentative address is no source, and
			// its neighbors would be learned only once DAD ends.
			addr.Flags = unix.IFA_F_NODAD
			err = ph.AddrAdd(eth0, addr)
		}
	}
	if err != nil {
		t.Fatalf("setting the pod's eth0 up with %v: %v", addrs, err)
	}
	return host.Attrs().Index, pod
}

// route adds the host route a CNI adds for a pod IP through the host end.
func (n *node) route(t testing.TB, index int, ip string) *netlink.Route {
	t.Helper()
	a := netip.MustParseAddr(ip)
	r := &netlink.Route{
		LinkIndex: index,
		Dst:       &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())},
		Scope:     netlink.SCOPE_LINK,
	}
	if a.Is6() {
		r.Scope = netlink.SCOPE_UNIVERSE
	}
	if err := n.h.RouteAdd(r); err != nil {
		t.Fatalf("adding route %v: %v", r, err)
	}
	return r
}

// next returns the next event, or false after timeout.
func (n *node) next(timeout time.Duration) (Event, bool) {
	select {
	case e := <-n.events:
		n.seen[e.Index]++
		if len(e.IPs) == 0 {
			delete(n.now, e.Index)
		} else {
			n.now[e.Index] = e.IPs
		}
		return e, true
	case <-time.After(timeout):
		return Event{}, false
	}
}

// expect reads events until they give index the answer want, which must
// happen within 5 s.
func (n *node) expect(t testing.TB, index int, want ...string) {
	t.Helper()
	var w []netip.Addr
	for _, s := range want {
		w = append(w, netip.MustParseAddr(s))
	}
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Equal(n.now[index], w) {
		if _, ok := n.next(time.Until(deadline)); !ok {
			t.Fatalf("interface %d: pod IPs %v after 5 s, want %v", index, n.now[index], w)
		}
	}
}

// quiet fails t if an event comes within d.
func (n *node) quiet(t testing.TB, d time.Duration) {
	t.Helper()
	if e, ok := n.next(d); ok {
		t.Fatalf("unexpected event %+v", e)
	}
}

// TestRoutedIPv4 is a Calico-like pod: a /32 route, scope link, through
// its veth, there before Watch starts, so the initial listing has it; and
// a veth of no pod beside it, of which nothing is said.
func TestRoutedIPv4(t *testing.T) {
	n := newNode(t)
	pod, _ := n.veth(t, "198.18.1.2/32")
	n.route(t, pod, "198.18.1.2")
	other, _ := n.veth(t, "198.18.1.3/32")
	n.watch(t)
	// Watch returned after sending the initial listing.
	select {
	case e := <-n.events:
		if e.Index != pod || !slices.Equal(e.IPs, []netip.Addr{netip.MustParseAddr("198.18.1.2")}) {
			t.Fatalf("initial event %+v, want interface %d with 198.18.1.2", e, pod)
		}
	default:
		t.Fatal("no initial event when Watch returned")
	}
	n.quiet(t, 200*time.Millisecond)
	if n.seen[other] != 0 {
		t.Fatalf("events for the veth of no pod")
	}
}

// TestRoutedIPv6 is a routed IPv6 pod: a /128 route through its veth.
func TestRoutedIPv6(t *testing.T) {
	n := newNode(t)
	n.watch(t)
	pod, _ := n.veth(t)
	n.route(t, pod, "fd00:17::2")
	n.expect(t, pod, "fd00:17::2")
	n.quiet(t, 200*time.Millisecond)
}

// TestDualStack is a pod with an IPv4 and an IPv6 route, the IPv6 one
// first: the answer holds both, IPv4 first.
func TestDualStack(t *testing.T) {
	n := newNode(t)
	n.watch(t)
	pod, _ := n.veth(t)
	n.route(t, pod, "fd00:17::3")
	n.expect(t, pod, "fd00:17::3")
	n.route(t, pod, "198.18.1.3")
	n.expect(t, pod, "198.18.1.3", "fd00:17::3")
}

// TestNoPod is a veth of no pod, and routes through a veth that are no
// pod's (a subnet, a gateway, scope universe): no event at all.
func TestNoPod(t *testing.T) {
	n := newNode(t)
	n.watch(t)
	idx, _ := n.veth(t)
	subnet := &netlink.Route{LinkIndex: idx, Dst: &net.IPNet{IP: net.IP{198, 18, 3, 0}, Mask: net.CIDRMask(24, 32)}, Scope: netlink.SCOPE_LINK}
	via := &netlink.Route{LinkIndex: idx, Dst: &net.IPNet{IP: net.IP{198, 18, 4, 1}, Mask: net.CIDRMask(32, 32)}, Gw: net.IP{198, 18, 3, 1}}
	universe := &netlink.Route{LinkIndex: idx, Dst: &net.IPNet{IP: net.IP{198, 18, 4, 2}, Mask: net.CIDRMask(32, 32)}}
	for _, r := range []*netlink.Route{subnet, via, universe} {
		if err := n.h.RouteAdd(r); err != nil {
			t.Fatalf("adding route %v: %v", r, err)
		}
	}
	n.quiet(t, 300*time.Millisecond)
}

// TestRouteAfterVeth is a CNI's order: the veth first, the route after
// it; the event comes when the route does, and goes when it does. It logs
// the median time from the route's creation to its event.
func TestRouteAfterVeth(t *testing.T) {
	n := newNode(t)
	n.watch(t)
	pod, _ := n.veth(t)
	n.quiet(t, 200*time.Millisecond)
	var took []time.Duration
	for range 20 {
		start := time.Now()
		r := n.route(t, pod, "198.18.1.4")
		n.expect(t, pod, "198.18.1.4")
		took = append(took, time.Since(start))
		if err := n.h.RouteDel(r); err != nil {
			t.Fatal(err)
		}
		n.expect(t, pod)
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("route to event: median %v of %d (min %v, max %v)", (took[9]+took[10])/2, len(took), took[0], took[19])
}

// BenchmarkRouteToEvent measures the time from a pod's route appearing to
// its event: route-to-event-ns is the median over b.N routes, each
// deleted again (its event awaited too) before the next.
func BenchmarkRouteToEvent(b *testing.B) {
	n := newNode(b)
	n.watch(b)
	pod, _ := n.veth(b)
	took := make([]time.Duration, 0, b.N)
	for b.Loop() {
		start := time.Now()
		r := n.route(b, pod, "198.18.1.4")
		n.expect(b, pod, "198.18.1.4")
		took = append(took, time.Since(start))
		if err := n.h.RouteDel(r); err != nil {
			b.Fatal(err)
		}
		n.expect(b, pod)
	}
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "route-to-event-ns")
}

// TestIPTakenByNewPod is a pod deleted and its IP taken by a new pod on a
// new veth: the old interface belongs to no pod any more, the new one to
// the IP.
func TestIPTakenByNewPod(t *testing.T) {
	n := newNode(t)
	n.watch(t)
	old, _ := n.veth(t)
	n.route(t, old, "198.18.1.5")
	n.expect(t, old, "198.18.1.5")
	l, err := n.h.LinkByIndex(old)
	if err == nil {
		// Deleting the host end deletes the pair, and with it the route,
		// which the kernel does not announce.
		err = n.h.LinkDel(l)
	}
	if err != nil {
		t.Fatalf("deleting the old pod's veth: %v", err)
	}
	n.expect(t, old)
	pod, _ := n.veth(t)
	n.route(t, pod, "198.18.1.5")
	n.expect(t, pod, "198.18.1.5")
	if n.seen[old] != 2 {
		t.Errorf("%d events for the old pod's interface, want 2", n.seen[old])
	}
}

// TestVethDown: an interface set down loses its routes without a word
// from the kernel (RTM_DELROUTE comes for none of them); its answer goes
// with them, and does not come back with the interface, only with a route.
func TestVethDown(t *testing.T) {
	n := newNode(t)
	n.watch(t)
	pod, _ := n.veth(t)
	n.route(t, pod, "198.18.1.7")
	n.route(t, pod, "fd00:17::7")
	n.expect(t, pod, "198.18.1.7", "fd00:17::7")
	l, err := n.h.LinkByIndex(pod)
	if err == nil {
		err = n.h.LinkSetDown(l)
	}
	if err != nil {
		t.Fatal(err)
	}
	n.expect(t, pod)
	if err := n.h.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	n.quiet(t, 200*time.Millisecond)
	n.route(t, pod, "198.18.1.7")
	n.expect(t, pod, "198.18.1.7")
}

// TestBridge is two pods on a bridge, as the bridge plugin makes them: the
// bridge learns each pod's MAC behind its port, and its neighbor table
// each pod's IP, from the pods' own traffic (an ARP request for the
// bridge's address, then a datagram).
func TestBridge(t *testing.T) {
	n := newNode(t)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: randomName("br")}}
	if err := n.h.LinkAdd(br); err != nil {
		t.Fatalf("creating a bridge: %v", err)
	}
	addr, _ := netlink.ParseAddr("198.18.2.1/24")
	if err := n.h.AddrAdd(br, addr); err != nil {
		t.Fatal(err)
	}
	if err := n.h.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
	n.watch(t)
	a, podA := n.veth(t, "198.18.2.2/24")
	b, podB := n.veth(t, "198.18.2.3/24")
	for _, port := range []int{a, b} {
		l, err := n.h.LinkByIndex(port)
		if err == nil {
			err = n.h.LinkSetMasterByIndex(l, br.Index)
		}
		if err != nil {
			t.Fatalf("adding port %d to the bridge: %v", port, err)
		}
	}
	n.quiet(t, 200*time.Millisecond)
	for _, pod := range []*xdptest.Namespace{podA, podB} {
		if err := pod.Do(func() error { return sendUDP("198.18.2.1:9") }); err != nil {
			t.Fatalf("sending from a pod: %v", err)
		}
	}
	n.expect(t, a, "198.18.2.2")
	n.expect(t, b, "198.18.2.3")
	bridge, err := n.h.LinkByIndex(br.Index)
	if err != nil {
		t.Fatal(err)
	}
	if n.seen[bridge.Attrs().Index] != 0 {
		t.Errorf("events for the bridge itself")
	}
	// The bridge's address is no pod's; nor is the MAC of a port's own.
	n.quiet(t, 200*time.Millisecond)
}

// TestBridgeDualStack is a dual-stack pod on a bridge: the bridge learns
// its IPv4 address by ARP, its IPv6 address by neighbor discovery, and not
// its link-local address, which is no pod IP.
func TestBridgeDualStack(t *testing.T) {
	n := newNode(t)
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: randomName("br")}}
	if err := n.h.LinkAdd(br); err != nil {
		t.Fatalf("creating a bridge: %v", err)
	}
	for _, a := range []string{"198.18.2.1/24", "fd00:18::1/64"} {
		addr, _ := netlink.ParseAddr(a)
		addr.Flags = unix.IFA_F_NODAD // as the pod's: usable at once
		if err := n.h.AddrAdd(br, addr); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.h.LinkSetUp(br); err != nil {
		t.Fatal(err)
	}
	n.watch(t)
	port, pod := n.veth(t, "198.18.2.2/24", "fd00:18::2/64")
	l, err := n.h.LinkByIndex(port)
	if err == nil {
		err = n.h.LinkSetMasterByIndex(l, br.Index)
	}
	if err != nil {
		t.Fatalf("adding the port to the bridge: %v", err)
	}
	for _, to := range []string{"198.18.2.1:9", "[fd00:18::1]:9"} {
		if err := pod.Do(func() error { return sendUDP(to) }); err != nil {
			t.Fatalf("sending to %s from the pod: %v", to, err)
		}
	}
	n.expect(t, port, "198.18.2.2", "fd00:18::2")
	n.quiet(t, 300*time.Millisecond)
}

// sendUDP sends one datagram to addr, from the calling thread's namespace.
func sendUDP(addr string) error {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte("pod"))
	return err
}

// TestOverflow loses messages: the socket buffer is as small as can be,
// and nothing reads the events while a hundred routes come, so the
// watcher, blocked, cannot read the socket either. The kernel says so
// (ENOBUFS), and the watcher lists everything again: the answer ends up
// whole.
func TestOverflow(t *testing.T) {
	n := newNode(t)
	n.events = make(chan Event)
	var overflows atomic.Int32
	n.watchWith(t, options{ns: n.ns.Fd(), bufferSize: 1, overflowed: func() { overflows.Add(1) }})
	pod, _ := n.veth(t)
	n.route(t, pod, "198.18.1.2")
	want := []string{"198.18.1.2"}
	for i := range 100 {
		ip := fmt.Sprintf("198.18.5.%d", i)
		n.route(t, pod, ip)
		want = append(want, ip)
	}
	n.expect(t, pod, want...)
	if overflows.Load() == 0 {
		t.Fatal("no overflow: the test did not test what it means to")
	}
	t.Logf("%d overflows", overflows.Load())
}

// TestRenewAfterFailedListing: a listing after an overflow that fails
// (the dump, here a test's, returns an error) is reported, the
// subscription is replaced, and nil is reported once changes are followed
// again; the answer ends up whole.
func TestRenewAfterFailedListing(t *testing.T) {
	n := newNode(t)
	n.events = make(chan Event)
	errFake := errors.New("fake: dump failed")
	var (
		fail      atomic.Bool
		overflows atomic.Int32
		mu        sync.Mutex
		reported  []error
	)
	dump := func() ([]netlink.Link, []netlink.Route, []netlink.Neigh, error) {
		if fail.CompareAndSwap(true, false) {
			return nil, nil, nil, errFake
		}
		return dumpWith(n.h)
	}
	o := options{ns: n.ns.Fd(), bufferSize: 1, dump: dump, overflowed: func() { overflows.Add(1) }}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	onErr := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, err)
	}
	pod, _ := n.veth(t) // of no pod yet: the initial listing sends nothing
	if err := watchAt(o, n.events, done, onErr); err != nil {
		t.Fatalf("watch: %v", err)
	}
	fail.Store(true)
	var want []string
	for i := range 100 {
		ip := fmt.Sprintf("198.18.6.%d", i)
		n.route(t, pod, ip)
		want = append(want, ip)
	}
	n.expect(t, pod, want...)
	if overflows.Load() == 0 || fail.Load() {
		t.Fatalf("%d overflows, failing listing not reached: the test did not test what it means to", overflows.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 2 || !errors.Is(reported[0], errFake) || reported[1] != nil {
		t.Fatalf("reported %v; want the failed listing, then nil", reported)
	}
}

// TestListRetriesInterruptedDumps: a dump that comes back interrupted
// (NLM_F_DUMP_INTR, which netlink returns with what it got) is never used
// and is taken again; one interrupted every time fails the listing with
// netlink.ErrDumpInterrupted. The dumps are a test's: under churn, the
// kernel interrupted no link dump in a namespace of a test's own (0 of
// ~130 listings of 256 interfaces), too rarely to rely on.
func TestListRetriesInterruptedDumps(t *testing.T) {
	link := veth(7, 0, nil, true)
	route := func(ip string) netlink.Route {
		return netlink.Route{LinkIndex: 7, Dst: hostNet(ip), Scope: netlink.SCOPE_LINK, Type: unix.RTN_UNICAST, Table: unix.RT_TABLE_MAIN}
	}
	for _, interruptions := range []int{0, 1, 2, dumpRetries - 1, dumpRetries} {
		calls := 0
		dump := func() ([]netlink.Link, []netlink.Route, []netlink.Neigh, error) {
			calls++
			if calls <= interruptions {
				// What an interrupted dump got: a route since deleted.
				return []netlink.Link{link}, []netlink.Route{route("198.18.0.9")}, nil, netlink.ErrDumpInterrupted
			}
			return []netlink.Link{link}, []netlink.Route{route("198.18.0.2")}, nil, nil
		}
		events := make(chan Event, 10)
		w := &watcher{options: options{dump: dump}, s: newState(), events: events, done: make(chan struct{})}
		err := w.list()
		if interruptions == dumpRetries {
			if !errors.Is(err, netlink.ErrDumpInterrupted) || calls != dumpRetries || len(events) != 0 {
				t.Fatalf("interrupted every time: %v after %d dumps, %d events; want ErrDumpInterrupted after %d, none", err, calls, len(events), dumpRetries)
			}
			continue
		}
		if err != nil || calls != interruptions+1 {
			t.Fatalf("%d interruptions: %v after %d dumps", interruptions, err, calls)
		}
		close(events)
		var got []Event
		for e := range events {
			got = append(got, e)
		}
		expectEvents(t, fmt.Sprintf("%d interruptions", interruptions), got, Event{7, ips("198.18.0.2")})
	}
}

// BenchmarkWatchStart500 measures Watch's start on a node with 500 pods
// (veths with a /32 route each; the peers stay in the node, which changes
// nothing here): subscribing, listing, and sending the 500 initial events.
func BenchmarkWatchStart500(b *testing.B) {
	n := newNode(b)
	for i := range 500 {
		name := fmt.Sprintf("p%d", i)
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "e"}
		if err := n.h.LinkAdd(veth); err != nil {
			b.Fatal(err)
		}
		for _, end := range []string{name, name + "e"} {
			l, err := n.h.LinkByName(end)
			if err == nil {
				err = n.h.LinkSetUp(l)
			}
			if err != nil {
				b.Fatal(err)
			}
		}
		l, _ := n.h.LinkByName(name)
		n.route(b, l.Attrs().Index, fmt.Sprintf("198.18.%d.%d", 10+i/250, 1+i%250))
	}
	for b.Loop() {
		events := make(chan Event, 500)
		done := make(chan struct{})
		if err := watchAt(options{ns: n.ns.Fd(), bufferSize: bufferSize}, events, done, func(err error) { b.Error(err) }); err != nil {
			b.Fatal(err)
		}
		close(done)
		if len(events) != 500 {
			b.Fatalf("%d initial events, want 500", len(events))
		}
	}
}
