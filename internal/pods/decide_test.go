//go:build linux

package pods

import (
	"net"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

func hostNet(s string) *net.IPNet {
	a := netip.MustParseAddr(s)
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}
}

func TestPodRoute(t *testing.T) {
	pod4 := func(f func(r *netlink.Route)) *netlink.Route {
		r := &netlink.Route{LinkIndex: 7, Dst: hostNet("198.18.0.2"), Scope: netlink.SCOPE_LINK, Type: unix.RTN_UNICAST, Table: unix.RT_TABLE_MAIN}
		if f != nil {
			f(r)
		}
		return r
	}
	_, subnet, _ := net.ParseCIDR("198.18.0.0/24")
	_, subnet6, _ := net.ParseCIDR("fd00:17::/64")
	for _, c := range []struct {
		name string
		r    *netlink.Route
		want string // "": no pod
	}{
		{"calico /32 scope link", pod4(nil), "198.18.0.2"},
		{"ptp /32 scope host", pod4(func(r *netlink.Route) { r.Scope = netlink.SCOPE_HOST }), "198.18.0.2"},
		{"another table", pod4(func(r *netlink.Route) { r.Table = 100 }), "198.18.0.2"},
		{"/128", pod4(func(r *netlink.Route) { r.Dst, r.Scope = hostNet("fd00:17::2"), netlink.SCOPE_UNIVERSE }), "fd00:17::2"},
		{"IPv4-mapped /32", pod4(func(r *netlink.Route) { r.Dst = &net.IPNet{IP: net.ParseIP("198.18.0.2"), Mask: net.CIDRMask(32, 32)} }), "198.18.0.2"},
		{"scope universe /32", pod4(func(r *netlink.Route) { r.Scope = netlink.SCOPE_UNIVERSE }), ""},
		{"a subnet", pod4(func(r *netlink.Route) { r.Dst = subnet }), ""},
		{"an IPv6 subnet", pod4(func(r *netlink.Route) { r.Dst, r.Scope = subnet6, netlink.SCOPE_UNIVERSE }), ""},
		{"a gateway", pod4(func(r *netlink.Route) { r.Gw = net.IP{198, 18, 0, 1} }), ""},
		{"via", pod4(func(r *netlink.Route) { r.Via = &netlink.Via{} }), ""},
		{"multipath", pod4(func(r *netlink.Route) {
			r.LinkIndex, r.MultiPath = 0, []*netlink.NexthopInfo{{LinkIndex: 7}, {LinkIndex: 8}}
		}), ""},
		{"local", pod4(func(r *netlink.Route) {
			r.Type, r.Scope, r.Table = unix.RTN_LOCAL, netlink.SCOPE_HOST, unix.RT_TABLE_LOCAL
		}), ""},
		{"broadcast", pod4(func(r *netlink.Route) { r.Type = unix.RTN_BROADCAST }), ""},
		{"blackhole", pod4(func(r *netlink.Route) { r.Type, r.LinkIndex = unix.RTN_BLACKHOLE, 0 }), ""},
		{"cloned (an IPv6 exception)", pod4(func(r *netlink.Route) { r.Dst, r.Flags = hostNet("fd00:17::2"), unix.RTM_F_CLONED }), ""},
		{"no interface", pod4(func(r *netlink.Route) { r.LinkIndex = 0 }), ""},
		{"no destination", pod4(func(r *netlink.Route) { r.Dst = nil }), ""},
	} {
		ip, oif, ok := podRoute(c.r)
		if c.want == "" {
			if ok {
				t.Errorf("%s: pod %v on %d, want none", c.name, ip, oif)
			}
			continue
		}
		if !ok || ip != netip.MustParseAddr(c.want) || oif != 7 {
			t.Errorf("%s: %v on %d (%v), want %s on 7", c.name, ip, oif, ok, c.want)
		}
	}
}

func TestFDBPort(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	learnt := netlink.Neigh{Family: unix.AF_BRIDGE, LinkIndex: 7, MasterIndex: 3, HardwareAddr: mac, Flags: netlink.NTF_MASTER, State: netlink.NUD_REACHABLE}
	for _, c := range []struct {
		name string
		f    func(n *netlink.Neigh)
		want bool
	}{
		{"learnt", nil, true},
		{"learnt, stale", func(n *netlink.Neigh) { n.State = netlink.NUD_STALE }, true},
		{"static", func(n *netlink.Neigh) { n.State = netlink.NUD_NOARP }, false},
		{"permanent: the port's or bridge's own", func(n *netlink.Neigh) { n.State = netlink.NUD_PERMANENT }, false},
		{"the port device's own table", func(n *netlink.Neigh) { n.Flags, n.MasterIndex = netlink.NTF_SELF, 0 }, false},
		{"self on a bridge port", func(n *netlink.Neigh) { n.Flags = netlink.NTF_SELF | netlink.NTF_MASTER }, false},
		{"no bridge", func(n *netlink.Neigh) { n.MasterIndex = 0 }, false},
		{"IPv4 neighbor", func(n *netlink.Neigh) { n.Family = unix.AF_INET }, false},
		{"no MAC", func(n *netlink.Neigh) { n.HardwareAddr = nil }, false},
	} {
		n := learnt
		if c.f != nil {
			c.f(&n)
		}
		bridge, port, m, ok := fdbPort(&n)
		if ok != c.want {
			t.Errorf("%s: %v, want %v", c.name, ok, c.want)
		}
		if ok && (bridge != 3 || port != 7 || m != string(mac)) {
			t.Errorf("%s: bridge %d port %d MAC %x, want 3, 7, %s", c.name, bridge, port, m, mac)
		}
	}
}

func TestNeighMAC(t *testing.T) {
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	stale := netlink.Neigh{Family: unix.AF_INET, LinkIndex: 3, IP: net.IP{198, 18, 0, 2}, HardwareAddr: mac, State: netlink.NUD_STALE}
	for _, c := range []struct {
		name string
		f    func(n *netlink.Neigh)
		want string
	}{
		{"stale", nil, "198.18.0.2"},
		{"reachable", func(n *netlink.Neigh) { n.State = netlink.NUD_REACHABLE }, "198.18.0.2"},
		{"delay", func(n *netlink.Neigh) { n.State = netlink.NUD_DELAY }, "198.18.0.2"},
		{"probe", func(n *netlink.Neigh) { n.State = netlink.NUD_PROBE }, "198.18.0.2"},
		{"permanent", func(n *netlink.Neigh) { n.State = netlink.NUD_PERMANENT }, "198.18.0.2"},
		{"IPv6", func(n *netlink.Neigh) { n.Family, n.IP = unix.AF_INET6, net.ParseIP("fd00:17::2") }, "fd00:17::2"},
		{"failed", func(n *netlink.Neigh) { n.State = netlink.NUD_FAILED }, ""},
		{"incomplete", func(n *netlink.Neigh) { n.State, n.HardwareAddr = netlink.NUD_INCOMPLETE, nil }, ""},
		{"noarp", func(n *netlink.Neigh) { n.State = netlink.NUD_NOARP }, ""},
		{"none", func(n *netlink.Neigh) { n.State = netlink.NUD_NONE }, ""},
		{"proxy", func(n *netlink.Neigh) { n.Flags = netlink.NTF_PROXY }, ""},
		{"link-local", func(n *netlink.Neigh) { n.Family, n.IP = unix.AF_INET6, net.ParseIP("fe80::1") }, ""},
		{"multicast", func(n *netlink.Neigh) { n.IP = net.IP{224, 0, 0, 1} }, ""},
		{"FDB entry", func(n *netlink.Neigh) { n.Family, n.IP = unix.AF_BRIDGE, nil }, ""},
	} {
		n := stale
		if c.f != nil {
			c.f(&n)
		}
		link, ip, m, ok := neighMAC(&n)
		if c.want == "" {
			if ok {
				t.Errorf("%s: %v, want none", c.name, ip)
			}
			continue
		}
		if !ok || link != 3 || ip != netip.MustParseAddr(c.want) || m != string(mac) {
			t.Errorf("%s: link %d %v %x (%v), want 3 %s %s", c.name, link, ip, m, ok, c.want, mac)
		}
	}
}

// TestParseRoute checks the route parser against what the kernel sends,
// serialized as netlink serializes requests.
func TestParseRoute(t *testing.T) {
	msg := func(dst net.IP, dstLen uint8, attrs ...*nl.RtAttr) []byte {
		m := nl.NewRtMsg()
		m.Family, m.Dst_len, m.Table, m.Scope, m.Type = unix.AF_INET, dstLen, unix.RT_TABLE_UNSPEC, unix.RT_SCOPE_LINK, unix.RTN_UNICAST
		if dst.To4() == nil {
			m.Family = unix.AF_INET6
		}
		b := m.Serialize()
		b = append(b, nl.NewRtAttr(unix.RTA_DST, dst).Serialize()...)
		for _, a := range attrs {
			b = append(b, a.Serialize()...)
		}
		return b
	}
	oif := nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(7))
	table := nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(1000))
	prio := nl.NewRtAttr(unix.RTA_PRIORITY, nl.Uint32Attr(1024))
	r, ok := parseRoute(msg(net.IP{198, 18, 0, 2}, 32, oif, table, prio))
	if !ok || r.LinkIndex != 7 || r.Table != 1000 || r.Priority != 1024 || r.Dst.String() != "198.18.0.2/32" || r.Scope != netlink.SCOPE_LINK {
		t.Fatalf("parsed %+v (%v)", r, ok)
	}
	if ip, oif, ok := podRoute(&r); !ok || ip != netip.MustParseAddr("198.18.0.2") || oif != 7 {
		t.Fatalf("pod route %v %d %v", ip, oif, ok)
	}
	r, ok = parseRoute(msg(net.ParseIP("fd00:17::2"), 128, oif))
	if ip, _, pod := podRoute(&r); !ok || !pod || ip != netip.MustParseAddr("fd00:17::2") {
		t.Fatalf("IPv6: parsed %+v, pod %v %v", r, ip, pod)
	}
	r, ok = parseRoute(msg(net.IP{198, 18, 0, 2}, 32, oif, nl.NewRtAttr(unix.RTA_GATEWAY, []byte{198, 18, 0, 1})))
	if _, _, pod := podRoute(&r); !ok || pod {
		t.Fatalf("a route with a gateway: parsed %+v, pod %v", r, pod)
	}
	r, ok = parseRoute(msg(net.IP{198, 18, 0, 2}, 32, nl.NewRtAttr(unix.RTA_MULTIPATH, []byte{})))
	if _, _, pod := podRoute(&r); !ok || pod {
		t.Fatalf("a multipath route: parsed %+v, pod %v", r, pod)
	}
	if r, ok := parseRoute(msg(net.IP{198, 18, 0, 2}, 32, oif, nl.NewRtAttr(rtaNHID, nl.Uint32Attr(1)))); ok {
		t.Fatalf("a route with a nexthop object: parsed %+v", r)
	}
	if _, ok := parseRoute([]byte{1, 2}); ok {
		t.Fatal("parsed a truncated message")
	}
}
