//go:build linux

package xdptest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The layouts that CNIs leave in a node's host namespace, made of the
// test's own interfaces there: what the receiver learns pods from.
//
// Pod IPs come from ranges that crafted frames never use: 198.19.0.0/16
// and 2001:2:0:1::/64 for routed pods, /29 blocks of 198.18.0.0/16 (but
// its first, which holds the frames' 198.18.0.1 and .2) for bridges. The
// host's routing table is shared with every test running at the time, in
// other processes too, so each address is drawn at random and drawn again
// when a route to it exists already.

// PodRoute adds the host route a routed CNI (Calico, the ptp plugin, AWS
// VPC CNI) adds for a pod: a /32 of scope link, or a /128, through the
// host end with index, to an IP of the test's own, IPv6 if ipv6 (the
// interface must have IPv6 on: see EnableIPv6). The route is deleted when
// the test ends, unless it went with its interface.
func PodRoute(t testing.TB, index int, ipv6 bool) netip.Addr {
	t.Helper()
	for range 16 {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		ip := netip.AddrFrom4([4]byte{198, 19, b[0], b[1]})
		if ipv6 {
			a := [16]byte{0x20, 0x01, 0x00, 0x02, 0, 0, 0, 1}
			copy(a[8:], b[:])
			ip = netip.AddrFrom16(a)
		}
		err := addPodRoute(t, index, ip)
		if errors.Is(err, unix.EEXIST) {
			continue // another test's pod
		}
		if err != nil {
			t.Fatalf("adding a route to a pod through interface %d: %v", index, err)
		}
		return ip
	}
	t.Fatalf("no free pod IP after 16 draws")
	return netip.Addr{}
}

// AddPodRoute adds the route PodRoute adds, to ip: a pod IP the test chose,
// such as one a new pod takes over from a pod deleted.
func AddPodRoute(t testing.TB, index int, ip netip.Addr) {
	t.Helper()
	if err := addPodRoute(t, index, ip); err != nil {
		t.Fatalf("adding a route to pod %s through interface %d: %v", ip, index, err)
	}
}

func addPodRoute(t testing.TB, index int, ip netip.Addr) error {
	r := &netlink.Route{
		LinkIndex: index,
		Dst:       &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(ip.BitLen(), ip.BitLen())},
		Scope:     netlink.SCOPE_LINK,
	}
	if ip.Is6() {
		r.Scope = netlink.SCOPE_UNIVERSE // IPv6 routes have no other
	}
	if err := netlink.RouteAdd(r); err != nil {
		return err
	}
	t.Cleanup(func() {
		// Gone with its interface, or deleted by the test: no matter.
		if err := netlink.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENODEV) {
			t.Errorf("deleting the route to pod %s: %v", ip, err)
		}
	})
	return nil
}

// EnableIPv6 turns IPv6 on on the host end, as an IPv6 route through it
// needs, without an address of any kind: no link-local address, so no
// duplicate address detection, router solicitation or MLD report ever
// leaves it, and the counter on it still sees only what the test sends.
func (p *Pair) EnableIPv6(t testing.TB) {
	t.Helper()
	for _, kv := range []struct{ k, v string }{
		// Before IPv6 comes on: addresses are generated as it does.
		{"net/ipv6/conf/" + p.Host + "/addr_gen_mode", "1"},
		{"net/ipv6/conf/" + p.Host + "/accept_ra", "0"},
		{"net/ipv6/conf/" + p.Host + "/forwarding", "0"}, // a router joins ff02::2, and reports it
		{"net/ipv6/conf/" + p.Host + "/disable_ipv6", "0"},
	} {
		if err := writeSysctls(map[string]string{kv.k: kv.v}); err != nil {
			t.Fatalf("turning IPv6 on on %q: %v", p.Host, err)
		}
	}
}

// Bridge is a bridge in the test's namespace as the bridge CNI plugin
// makes one (cni0): pods' host ends are its ports, and its address, the
// .1 of a /29 of the test's own, is the pods' gateway, whose neighbor
// table learns each pod's IP from the pod's ARP. IPv6 and multicast
// snooping are off on it, so that it sends nothing of its own, and it
// floods no unicast frame of an unknown destination to its ports: every
// port carries only what a test sends on it (crafted frames go to a MAC
// that nothing has).
type Bridge struct {
	Name  string
	Index int
	// Prefix is the bridge's /29; its .1 is the bridge's address, and
	// PodIP hands out the rest.
	Prefix netip.Prefix
}

// NewBridge creates a uniquely named bridge, up, and removes it when the
// test ends, whether it passed or not.
func NewBridge(t testing.TB) *Bridge {
	t.Helper()
	Privileged(t)
	b := &Bridge{Name: "xdp" + randomID() + "b"}
	// Without multicast snooping, which joins the bridge to the snoopers'
	// groups (224.0.0.106, ff02::6a) and has it report them on its ports.
	snooping := false
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: b.Name}, MulticastSnooping: &snooping}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatalf("creating bridge %q: %v", b.Name, err)
	}
	t.Cleanup(func() { deleteLink(b.Name) })
	if err := writeSysctls(map[string]string{"net/ipv6/conf/" + b.Name + "/disable_ipv6": "1"}); err != nil {
		t.Fatalf("disabling IPv6 on %q: %v", b.Name, err)
	}
	var r [2]byte
	if _, err := rand.Read(r[:]); err != nil {
		t.Fatal(err)
	}
	// 2^13 blocks of eight addresses in 198.18.0.0/16, the first left out.
	block := max(uint32(binary.BigEndian.Uint16(r[:])&0x1fff), 1) * 8
	base := uint32(198)<<24 | uint32(18)<<16 + block
	b.Prefix = netip.PrefixFrom(addr4(base), 29)
	l := linkByName(t, b.Name)
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipNet(addr4(base+1), 29)}); err != nil {
		t.Fatalf("adding %s to %q: %v", addr4(base+1), b.Name, err)
	}
	if err := netlink.LinkSetUp(l); err != nil {
		t.Fatalf("setting %q up: %v", b.Name, err)
	}
	b.Index = l.Attrs().Index
	return b
}

// Addr is the bridge's address: the pods' gateway.
func (b *Bridge) Addr() netip.Addr { return b.Prefix.Addr().Next() }

// PodIP is the IP of the bridge's i-th pod, 0 to 4.
func (b *Bridge) PodIP(i int) netip.Addr {
	if i < 0 || i > 4 {
		panic(fmt.Sprintf("xdptest: a bridge holds pods 0 to 4, not %d", i))
	}
	ip := b.Addr().Next()
	for range i {
		ip = ip.Next()
	}
	return ip
}

// Port makes the pair's host end a port of the bridge, flooding none of
// the frames of unknown destination that other ports bring in.
func (b *Bridge) Port(t testing.TB, p *Pair) {
	t.Helper()
	l := linkByName(t, p.Host)
	if err := netlink.LinkSetMasterByIndex(l, b.Index); err != nil {
		t.Fatalf("adding %q to bridge %q: %v", p.Host, b.Name, err)
	}
	if err := netlink.LinkSetFlood(l, false); err != nil {
		t.Fatalf("turning unicast flooding off on %q: %v", p.Host, err)
	}
}

// Learn has the pod behind the pair's peer, with the IP ip and a MAC of
// its own, ask the bridge's address by ARP, as a pod does of its gateway:
// the bridge learns the MAC behind the port, and its neighbor table the
// IP at that MAC. It returns the MAC once both hold it. The request, the
// bridge's reply and the request's flood to other ports cross the ports:
// a test learns before it counts.
func (b *Bridge) Learn(t testing.TB, p *Pair, ip netip.Addr) net.HardwareAddr {
	t.Helper()
	mac := make(net.HardwareAddr, 6)
	if _, err := rand.Read(mac[3:]); err != nil {
		t.Fatal(err)
	}
	copy(mac, []byte{0x02, 0x58, 0x44}) // locally administered, unicast
	p.Inject(t, arpRequest(mac, ip, b.Addr()))
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		fdb, neigh := b.learnt(t, p, mac, ip)
		if fdb && neigh {
			return mac
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge %q after 5 s: %s behind %q: %v, %s at it: %v", b.Name, mac, p.Host, fdb, ip, neigh)
		}
	}
}

// learnt tells whether the bridge's forwarding database holds mac behind
// the pair's host end, and its neighbor table ip at mac.
func (b *Bridge) learnt(t testing.TB, p *Pair, mac net.HardwareAddr, ip netip.Addr) (fdb, neigh bool) {
	t.Helper()
	entries, err := netlink.NeighList(p.HostIndex, unix.AF_BRIDGE)
	if err != nil {
		t.Fatalf("listing the forwarding database of %q: %v", p.Host, err)
	}
	fdb = slices.ContainsFunc(entries, func(n netlink.Neigh) bool {
		return n.MasterIndex == b.Index && slices.Equal(n.HardwareAddr, mac)
	})
	entries, err = netlink.NeighList(b.Index, unix.AF_INET)
	if err != nil {
		t.Fatalf("listing the neighbors of %q: %v", b.Name, err)
	}
	neigh = slices.ContainsFunc(entries, func(n netlink.Neigh) bool {
		a, _ := netip.AddrFromSlice(n.IP)
		return a.Unmap() == ip && slices.Equal(n.HardwareAddr, mac)
	})
	return fdb, neigh
}

// arpRequest is a broadcast ARP request from mac and ip for target.
func arpRequest(mac net.HardwareAddr, ip, target netip.Addr) []byte {
	b := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac...)
	b = binary.BigEndian.AppendUint16(b, EtherARP)
	b = append(b, 0, 1, 0x08, 0x00, 6, 4, 0, 1)
	b = append(b, mac...)
	b = append(b, ip.AsSlice()...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	return append(b, target.AsSlice()...)
}
