//go:build linux

package bpf

import (
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// linkLayer is what the packets of an interface start with, which decides
// the program that counts them: an Ethernet header, or, on a device without
// a link layer, the IP header.
type linkLayer uint8

const (
	// layerEthernet is the layer of Ethernet devices and loopback, and of
	// devices of a hardware type that layerOf does not know.
	layerEthernet linkLayer = iota
	// layerIP is the layer of tun, WireGuard, ipip, sit, ip6tnl, gre, ppp
	// and raw-IP modems. Their bytes are the IP packet, which is all such a device
	// carries.
	layerIP
)

func (l linkLayer) String() string {
	if l == layerIP {
		return "ip"
	}
	return "ethernet"
}

// l3EncapTypes are the hardware types (ARPHRD_*, as netlink's EncapType
// spells them) of devices that carry IP without a link-layer header:
// ARPHRD_NONE (tun, WireGuard), ARPHRD_TUNNEL (ipip), ARPHRD_TUNNEL6
// (ip6tnl), ARPHRD_SIT, ARPHRD_IPGRE and ARPHRD_IP6GRE, ARPHRD_PPP and
// ARPHRD_RAWIP (wwan modems), the last two of which netlink names by
// number.
//
// A gre device without a remote address (or with a multicast one) has a
// link-layer header after all: the outer IP and GRE headers, which its
// packets then count as (IPv4, other).
var l3EncapTypes = map[string]bool{
	"none":    true,
	"ipip":    true,
	"tunnel6": true,
	"sit":     true,
	"gre":     true,
	fmt.Sprintf("unknown%d", unix.ARPHRD_IP6GRE): true,
	"ppp": true,
	fmt.Sprintf("unknown%d", unix.ARPHRD_RAWIP): true,
}

// layerOf tells what the packets of the interface start with, from its
// hardware type.
func layerOf(l netlink.Link) linkLayer {
	if l3EncapTypes[l.Attrs().EncapType] {
		return layerIP
	}
	return layerEthernet
}

// layer is what the interface's packets start with.
func (i *Interface) layer() linkLayer { return layerOf(i.link) }

// program is the program that counts the interface: at XDP (receive), or
// at TC in direction dir.
func (i *Interface) program(xdp bool, dir Direction) *ebpf.Program {
	return i.d.programFor(i.layer(), xdp, dir)
}

// tcPrograms are every TC program of the datapath, which its clsact
// filters may hold.
func (d *Datapath) tcPrograms() []*ebpf.Program {
	return []*ebpf.Program{d.objs.TcCountRx, d.objs.TcCountTx, d.objs.TcCountRxL3, d.objs.TcCountTxL3}
}
