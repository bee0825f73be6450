//go:build linux

package pods

import (
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func ips(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// expectEvents fails t unless events are want, in order.
func expectEvents(t *testing.T, step string, events []Event, want ...Event) {
	t.Helper()
	if !slices.EqualFunc(events, want, func(a, b Event) bool { return a.Index == b.Index && slices.Equal(a.IPs, b.IPs) }) {
		t.Fatalf("%s: events %+v, want %+v", step, events, want)
	}
}

func veth(index, master int, mac net.HardwareAddr, up bool) netlink.Link {
	a := netlink.LinkAttrs{Index: index, MasterIndex: master, HardwareAddr: mac}
	if up {
		a.Flags = net.FlagUp
	}
	return &netlink.Veth{LinkAttrs: a}
}

// TestStateRoutes follows routes through an interface: an event when the
// answer changes and none when it does not, both families sorted IPv4
// first, and the routes gone with no message when the interface goes
// down or away, as the kernel flushes IPv4 routes.
func TestStateRoutes(t *testing.T) {
	s := newState()
	s.link(7, veth(7, 0, nil, true), true)
	r4 := &netlink.Route{LinkIndex: 7, Dst: hostNet("198.18.0.2"), Scope: netlink.SCOPE_LINK, Type: unix.RTN_UNICAST, Table: unix.RT_TABLE_MAIN}
	r6 := &netlink.Route{LinkIndex: 7, Dst: hostNet("fd00:17::2"), Type: unix.RTN_UNICAST, Table: unix.RT_TABLE_MAIN, Priority: 1024}
	expectEvents(t, "IPv6 route", s.changes(s.route(r6, true)), Event{7, ips("fd00:17::2")})
	expectEvents(t, "IPv4 route", s.changes(s.route(r4, true)), Event{7, ips("198.18.0.2", "fd00:17::2")})
	expectEvents(t, "IPv4 route again", s.changes(s.route(r4, true)))
	other := *r4
	other.Table = 100
	expectEvents(t, "the same IP in another table", s.changes(s.route(&other, true)))
	expectEvents(t, "one of two routes to the IP deleted", s.changes(s.route(r4, false)))
	expectEvents(t, "the other deleted", s.changes(s.route(&other, false)), Event{7, ips("fd00:17::2")})
	expectEvents(t, "a change of the interface", s.changes(s.link(7, veth(7, 0, nil, true), true)))
	s.route(r4, true)
	expectEvents(t, "down", s.changes(s.link(7, veth(7, 0, nil, false), true)), Event{7, nil})
	expectEvents(t, "up again", s.changes(s.link(7, veth(7, 0, nil, true), true)))
	expectEvents(t, "route again", s.changes(s.route(r4, true)), Event{7, ips("198.18.0.2")})
	expectEvents(t, "deleted", s.changes(s.link(7, &netlink.Veth{}, false)), Event{7, nil})
	if len(s.all()) != 0 {
		t.Fatalf("interfaces left: %v", s.all())
	}
}

// TestStateBridge joins a bridge's FDB with its neighbors: each learnt
// MAC behind a port gives that port the IPs the bridge resolves to it, but
// not the port's own MAC; a MAC that moves moves its IP; a neighbor that
// fails takes its IP away.
func TestStateBridge(t *testing.T) {
	const br, a, b = 3, 7, 8
	macA, macB, own := net.HardwareAddr{2, 0, 0, 0, 0, 0xa}, net.HardwareAddr{2, 0, 0, 0, 0, 0xb}, net.HardwareAddr{2, 0, 0, 0, 0, 0xf}
	s := newState()
	s.link(br, &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Index: br, Flags: net.FlagUp}}, true)
	s.link(a, veth(a, br, own, true), true)
	s.link(b, veth(b, br, nil, true), true)
	fdb := func(mac net.HardwareAddr, port int) *netlink.Neigh {
		return &netlink.Neigh{Family: unix.AF_BRIDGE, LinkIndex: port, MasterIndex: br, HardwareAddr: mac, Flags: netlink.NTF_MASTER, State: netlink.NUD_REACHABLE}
	}
	neigh := func(ip string, mac net.HardwareAddr, state int) *netlink.Neigh {
		a := netip.MustParseAddr(ip)
		return &netlink.Neigh{Family: unix.AF_INET, LinkIndex: br, IP: a.AsSlice(), HardwareAddr: mac, State: state}
	}
	expectEvents(t, "neighbor first", s.changes(s.neigh(neigh("198.18.0.2", macA, netlink.NUD_STALE), true)))
	expectEvents(t, "then its MAC behind a", s.changes(s.neigh(fdb(macA, a), true)), Event{a, ips("198.18.0.2")})
	expectEvents(t, "a's own MAC", s.changes(s.neigh(fdb(own, a), true)))
	expectEvents(t, "a neighbor with a's own MAC", s.changes(s.neigh(neigh("198.18.0.9", own, netlink.NUD_REACHABLE), true)))
	expectEvents(t, "MAC behind b first", s.changes(s.neigh(fdb(macB, b), true)))
	expectEvents(t, "then its neighbor", s.changes(s.neigh(neigh("198.18.0.3", macB, netlink.NUD_REACHABLE), true)), Event{b, ips("198.18.0.3")})
	expectEvents(t, "a second IP of b's", s.changes(s.neigh(neigh("198.18.0.4", macB, netlink.NUD_REACHABLE), true)), Event{b, ips("198.18.0.3", "198.18.0.4")})
	expectEvents(t, "that IP failed", s.changes(s.neigh(neigh("198.18.0.4", macB, netlink.NUD_FAILED), true)), Event{b, ips("198.18.0.3")})
	expectEvents(t, "the MAC of a's pod seen behind b", s.changes(s.neigh(fdb(macA, b), true)), Event{a, nil}, Event{b, ips("198.18.0.2", "198.18.0.3")})
	expectEvents(t, "a deletion naming the old port", s.changes(s.neigh(fdb(macA, a), false)))
	expectEvents(t, "the neighbor deleted", s.changes(s.neigh(neigh("198.18.0.2", macA, netlink.NUD_STALE), false)), Event{b, ips("198.18.0.3")})
	expectEvents(t, "b leaves the bridge", s.changes(s.link(b, veth(b, 0, nil, true), true)), Event{b, nil})
	expectEvents(t, "b back", s.changes(s.link(b, veth(b, br, nil, true), true)), Event{b, ips("198.18.0.3")})
	expectEvents(t, "the bridge deleted", s.changes(s.link(br, &netlink.Bridge{}, false)), Event{b, nil})
}
