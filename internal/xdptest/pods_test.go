//go:build linux

package xdptest

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// podRoutes lists the routes to ip through the interface with index, or
// through any with 0.
func podRoutes(t *testing.T, index int, ip netip.Addr) []netlink.Route {
	t.Helper()
	family := unix.AF_INET
	if ip.Is6() {
		family = unix.AF_INET6
	}
	filter := netlink.RT_FILTER_DST | netlink.RT_FILTER_TABLE
	if index != 0 {
		filter |= netlink.RT_FILTER_OIF
	}
	rs, err := netlink.RouteListFiltered(family, &netlink.Route{
		LinkIndex: index, Dst: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(ip.BitLen(), ip.BitLen())}, Table: unix.RT_TABLE_UNSPEC,
	}, filter)
	if err != nil {
		t.Fatalf("listing routes to %s: %v", ip, err)
	}
	return rs
}

// TestPodRoute: PodRoute adds a host route to a pod IP of its range through
// the host end, scope link for IPv4, and the route goes when the test
// ends; AddPodRoute adds one to an IP of the test's choice.
func TestPodRoute(t *testing.T) {
	for _, ipv6 := range []bool{false, true} {
		var p *Pair
		var ip netip.Addr
		t.Run(map[bool]string{false: "ipv4", true: "ipv6"}[ipv6], func(t *testing.T) {
			p = NewPair(t)
			if ipv6 {
				p.EnableIPv6(t)
			}
			ip = PodRoute(t, p.HostIndex, ipv6)
			prefix := netip.MustParsePrefix("198.19.0.0/16")
			if ipv6 {
				prefix = netip.MustParsePrefix("2001:2:0:1::/64")
			}
			if !prefix.Contains(ip) {
				t.Errorf("pod IP %s outside %s", ip, prefix)
			}
			rs := podRoutes(t, p.HostIndex, ip)
			if len(rs) != 1 {
				t.Fatalf("%d routes to %s through %q, want 1", len(rs), ip, p.Host)
			}
			if ones, _ := rs[0].Dst.Mask.Size(); ones != ip.BitLen() || (!ipv6 && rs[0].Scope != netlink.SCOPE_LINK) || rs[0].Gw != nil {
				t.Errorf("route %v: want a host route of scope link without a gateway", rs[0])
			}
			other := NewPair(t)
			if ipv6 {
				other.EnableIPv6(t)
			}
			next := ip.Next()
			AddPodRoute(t, other.HostIndex, next)
			if rs := podRoutes(t, other.HostIndex, next); len(rs) != 1 {
				t.Fatalf("%d routes to %s through %q, want 1", len(rs), next, other.Host)
			}
		})
		// The pair went with the test, and the route with it or before.
		if rs := podRoutes(t, 0, ip); len(rs) != 0 {
			t.Errorf("routes to %s after the test: %v", ip, rs)
		}
	}
}

// TestPodRouteKept: a route whose interface the test deleted is no error
// at cleanup, and a route whose interface stays is deleted.
func TestPodRouteKept(t *testing.T) {
	var stays *Pair
	var ip netip.Addr
	t.Run("make", func(t *testing.T) {
		gone := NewPair(t)
		PodRoute(t, gone.HostIndex, false)
		gone.DeleteHost(t)
		stays = NewPair(t)
		ip = PodRoute(t, stays.HostIndex, false)
	})
	if rs := podRoutes(t, 0, ip); len(rs) != 0 {
		t.Errorf("routes to %s after the test: %v", ip, rs)
	}
}

// TestEnableIPv6: the host end takes IPv6 routes, and sends nothing of
// its own for it: no address, so no DAD, solicitation or MLD report.
func TestEnableIPv6(t *testing.T) {
	p := NewPair(t)
	p.EnableIPv6(t)
	PodRoute(t, p.HostIndex, true)
	time.Sleep(500 * time.Millisecond) // DAD and solicitations would have begun
	addrs, err := netlink.AddrList(linkByName(t, p.Host), unix.AF_INET6)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 0 {
		t.Errorf("IPv6 addresses on %q: %v", p.Host, addrs)
	}
	if n := linkByName(t, p.Host).Attrs().Statistics.TxPackets; n != 0 {
		t.Errorf("%q sent %d packets of its own", p.Host, n)
	}
}

// TestBridge: a bridge named as a test's, with an address of its own /29,
// that sends nothing of its own;
// pods on its ports are learnt, MAC behind port and IP at MAC; a frame of
// unknown destination from one port reaches no other; it is gone when
// the test ends.
func TestBridge(t *testing.T) {
	var b *Bridge
	t.Run("make", func(t *testing.T) {
		b = NewBridge(t)
		if !IsTestInterface(b.Name) {
			t.Errorf("IsTestInterface(%q) = false", b.Name)
		}
		if b.Prefix.Bits() != 29 || netip.MustParsePrefix("198.18.0.0/29").Overlaps(b.Prefix) ||
			!netip.MustParsePrefix("198.18.0.0/16").Overlaps(b.Prefix) {
			t.Errorf("bridge prefix %v: want a /29 of 198.18.0.0/16 other than its first", b.Prefix)
		}
		// An IGMP report would have left within a second.
		time.Sleep(1500 * time.Millisecond)
		if n := linkByName(t, b.Name).Attrs().Statistics.TxPackets; n != 0 {
			t.Errorf("%q sent %d packets of its own", b.Name, n)
		}
		addrs, err := netlink.AddrList(linkByName(t, b.Name), unix.AF_INET)
		if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != netip.PrefixFrom(b.Addr(), 29).String() {
			t.Errorf("addresses of %q: %v, %v; want %v/29", b.Name, addrs, err, b.Addr())
		}
		pa, pb := NewPair(t), NewPair(t)
		b.Port(t, pa)
		b.Port(t, pb)
		macA := b.Learn(t, pa, b.PodIP(0))
		macB := b.Learn(t, pb, b.PodIP(1))
		if macA.String() == macB.String() {
			t.Errorf("two pods with MAC %s", macA)
		}
		if fdb, neigh := b.learnt(t, pb, macA, b.PodIP(0)); fdb || !neigh {
			t.Errorf("pod A's MAC behind pod B's port: %v; its IP at it: %v", fdb, neigh)
		}
		before := received(t, pb, true)
		pa.Inject(t, Frames()[0].Data)
		requireReceived(t, pb, true, before, 0)
	})
	requireNoLink(t, b.Name)
}
