//go:build linux

package pods

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// rtaNHID is RTA_NH_ID, which x/sys/unix does not name.
const rtaNHID = 30

// native is the kernel's byte order, which netlink attributes use.
var native = nl.NativeEndian()

// podRoute tells whether r is a routed CNI's route to a pod: a host route
// (/32, /128) of a unicast type whose only next hop is an interface, with
// no gateway, in any table. It returns the pod's IP and that interface.
//
// IPv4 routes must have scope link (Calico, AWS VPC CNI, Azure CNI) or host
// (the ptp plugin, and kindnet with it, adds its host routes so): a scope
// universe /32 is a route to somewhere beyond the link. IPv6 routes carry
// no scope (the kernel reports every one as universe), so none is asked of
// them. Multipath routes and routes with a gateway lead through the
// interface to something else, never to a pod that sits on it. Cloned
// routes (IPv6 exceptions, a path MTU learnt) are copies the kernel makes
// of a route and deletes on its own: taken for routes, their deletion
// would delete the route they copy.
func podRoute(r *netlink.Route) (ip netip.Addr, oif int, ok bool) {
	if r.Type != unix.RTN_UNICAST || r.Dst == nil || r.LinkIndex <= 0 || r.Flags&unix.RTM_F_CLONED != 0 ||
		len(r.MultiPath) > 0 || r.Gw != nil || r.Via != nil || r.Encap != nil || r.MPLSDst != nil {
		return netip.Addr{}, 0, false
	}
	ip, ok = hostPrefix(r.Dst)
	if !ok {
		return netip.Addr{}, 0, false
	}
	if ip.Is4() && r.Scope != netlink.SCOPE_LINK && r.Scope != netlink.SCOPE_HOST {
		return netip.Addr{}, 0, false
	}
	return ip, r.LinkIndex, true
}

// hostPrefix returns the address of a /32 or /128 prefix.
func hostPrefix(n *net.IPNet) (netip.Addr, bool) {
	ones, bits := n.Mask.Size()
	if bits == 0 || ones != bits {
		return netip.Addr{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Addr{}, false
	}
	a = a.Unmap()
	if (bits == 32) != a.Is4() || !a.IsValid() || a.IsUnspecified() {
		return netip.Addr{}, false
	}
	return a, true
}

// fdbPort tells whether n is a bridge forwarding database entry that says a
// MAC address was seen behind a port: an AF_BRIDGE entry the bridge holds
// (NTF_MASTER, or NDA_MASTER set) and neither permanent (the bridge's own
// and its ports' own MACs) nor the port device's own (NTF_SELF) table.
// It returns the bridge, the port and the MAC. Whether the MAC is the
// port's own is asked by the caller, who knows the port.
func fdbPort(n *netlink.Neigh) (bridge, port int, mac string, ok bool) {
	if n.Family != unix.AF_BRIDGE || n.LinkIndex <= 0 || n.MasterIndex <= 0 ||
		len(n.HardwareAddr) == 0 || n.Flags&netlink.NTF_SELF != 0 ||
		n.State&(netlink.NUD_PERMANENT|netlink.NUD_NOARP) != 0 {
		return 0, 0, "", false
	}
	return n.MasterIndex, n.LinkIndex, string(n.HardwareAddr), true
}

// neighMAC tells whether n is a neighbor entry (IP → MAC) to trust: one
// that resolved, or did once (REACHABLE, STALE, DELAY, PROBE, PERMANENT).
// FAILED and INCOMPLETE entries have no MAC worth the name, and NOARP
// entries belong to interfaces without resolution (and to multicast).
func neighMAC(n *netlink.Neigh) (link int, ip netip.Addr, mac string, ok bool) {
	if (n.Family != unix.AF_INET && n.Family != unix.AF_INET6) || n.LinkIndex <= 0 ||
		len(n.HardwareAddr) == 0 || n.Flags&netlink.NTF_PROXY != 0 ||
		n.State&(netlink.NUD_FAILED|netlink.NUD_INCOMPLETE|netlink.NUD_NOARP) != 0 ||
		n.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE|netlink.NUD_PERMANENT) == 0 {
		return 0, netip.Addr{}, "", false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return 0, netip.Addr{}, "", false
	}
	a = a.Unmap()
	if !a.IsGlobalUnicast() {
		// Link-local (fe80::, 169.254/16) and multicast addresses are
		// never a pod's IP as the API server knows it.
		return 0, netip.Addr{}, "", false
	}
	return n.LinkIndex, a, string(n.HardwareAddr), true
}

// parseRoute reads a route message as far as podRoute needs it, as
// netlink's own dumps do (which do not export their parser). Routes that
// name a nexthop object or an encapsulation are never a pod's: ok is false.
func parseRoute(m []byte) (r netlink.Route, ok bool) {
	if len(m) < unix.SizeofRtMsg {
		return r, false
	}
	msg := nl.DeserializeRtMsg(m)
	attrs, err := nl.ParseRouteAttr(m[msg.Len():])
	if err != nil {
		return r, false
	}
	r = netlink.Route{
		Scope: netlink.Scope(msg.Scope), Table: int(msg.Table), Type: int(msg.Type),
		Tos: int(msg.Tos), Flags: int(msg.Flags), Family: int(msg.Family), Protocol: netlink.RouteProtocol(msg.Protocol),
	}
	for _, a := range attrs {
		switch a.Attr.Type {
		case unix.RTA_DST:
			bits := 8 * len(a.Value)
			r.Dst = &net.IPNet{IP: net.IP(a.Value), Mask: net.CIDRMask(int(msg.Dst_len), bits)}
		case unix.RTA_OIF:
			if len(a.Value) == 4 {
				r.LinkIndex = int(native.Uint32(a.Value))
			}
		case unix.RTA_GATEWAY:
			r.Gw = net.IP(a.Value)
		case unix.RTA_PRIORITY:
			if len(a.Value) == 4 {
				r.Priority = int(native.Uint32(a.Value))
			}
		case unix.RTA_TABLE:
			if len(a.Value) == 4 {
				r.Table = int(native.Uint32(a.Value))
			}
		case unix.RTA_MULTIPATH:
			// Only whether there are next hops matters.
			r.MultiPath = []*netlink.NexthopInfo{{}}
		case unix.RTA_VIA:
			r.Via = &netlink.Via{}
		case unix.RTA_ENCAP, rtaNHID:
			return r, false
		}
	}
	return r, true
}
