//go:build linux

package xdptest

import (
	"net/netip"
	"strconv"
	"testing"

	"github.com/vishvananda/netlink"
)

// Overlay is a VXLAN overlay across a pair: a VXLAN device on each end,
// tunneling to the other end's address (the underlay), each with an
// address of the overlay's own. Both sets of addresses are from
// 198.18.0.0/15. Host sits in the test's namespace, beside the pair's host
// end; its peer in the pair's namespace.
type Overlay struct {
	Host string
	// Peer is the name of the peer's VXLAN device, in the pair's
	// namespace.
	Peer       string
	pair       *Pair
	host, peer netip.Addr
}

// VXLAN is the encapsulation that every frame of the overlay carries on
// the underlay: outer Ethernet, IPv4 and UDP headers, and the VXLAN header.
const VXLAN = 14 + 20 + 8 + 8

// vxlanPort is the overlay's UDP port (IANA's).
const vxlanPort = 4789

// NewOverlay creates the overlay across p, which gets its addresses, and
// removes the host's VXLAN device when the test ends; the peer's goes with
// the pair's namespace. IPv6 is off on both devices, so that they send
// only what the test sends, and the ARP that this takes.
func NewOverlay(t testing.TB, p *Pair) *Overlay {
	t.Helper()
	hostU, peerU := p.Addresses(t)
	id := randomID()
	name := "xdp" + id + "x"
	o := &Overlay{Host: name, Peer: name, pair: p}
	// A VNI of its own (the id's 24 bits): two devices of a namespace
	// cannot share one on a port.
	vni, err := strconv.ParseUint(id, 16, 24)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteLink(o.Host) })
	vx := func(dev int, local, remote netip.Addr) *netlink.Vxlan {
		return &netlink.Vxlan{
			LinkAttrs:    netlink.LinkAttrs{Name: name},
			VxlanId:      int(vni),
			VtepDevIndex: dev,
			SrcAddr:      local.AsSlice(),
			Group:        remote.AsSlice(),
			Port:         vxlanPort,
			Learning:     false,
		}
	}
	if err := netlink.LinkAdd(vx(p.HostIndex, hostU, peerU)); err != nil {
		t.Fatalf("creating VXLAN device %q: %v", o.Host, err)
	}
	if err := writeSysctls(map[string]string{"net/ipv6/conf/" + o.Host + "/disable_ipv6": "1"}); err != nil {
		t.Fatalf("disabling IPv6 on %q: %v", o.Host, err)
	}
	if err := netlink.LinkSetUp(linkByName(t, o.Host)); err != nil {
		t.Fatalf("setting %q up: %v", o.Host, err)
	}
	h, err := p.ns.handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// IPv6 is off in the peer's namespace for every new interface.
	if err := h.LinkAdd(vx(p.peerIndex, peerU, hostU)); err != nil {
		t.Fatalf("creating VXLAN device %q in the peer's namespace: %v", o.Peer, err)
	}
	peer, err := h.LinkByName(o.Peer)
	if err == nil {
		err = h.LinkSetUp(peer)
	}
	if err != nil {
		t.Fatalf("setting %q up in its namespace: %v", o.Peer, err)
	}
	o.host, o.peer = addresses(t, p.ns, o.Host, o.Peer)
	return o
}

// Stream is Pair.Stream across the overlay: its segments cross the pair
// in VXLAN, each VXLAN bytes longer there than on the overlay.
func (o *Overlay) Stream(t testing.TB, size int, out bool) StreamResult {
	t.Helper()
	return stream(t, o.pair.ns, o.host, o.peer, size, out)
}

// SetSegmentation turns TSO and GSO on or off on both VXLAN devices and
// both ends of the pair.
func (o *Overlay) SetSegmentation(t testing.TB, on bool) {
	t.Helper()
	setSegmentation(t, nil, o.Host, on)
	setSegmentation(t, o.pair.ns, o.Peer, on)
	o.pair.SetSegmentation(t, false, on)
	o.pair.SetSegmentation(t, true, on)
}
