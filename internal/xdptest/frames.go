package xdptest

import (
	"encoding/binary"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// Frame is a crafted Ethernet frame and what the counter must make of it.
type Frame struct {
	Name  string
	Data  []byte
	Class bpf.Class
}

// Addresses of crafted frames. The destination MAC belongs to no interface,
// so a frame that XDP passes on is dropped by the stack as "other host" and
// never routed anywhere; the IP addresses are from the 198.18.0.0/15 and
// 2001:2::/48 benchmarking ranges.
var (
	DstMAC  = []byte{0x02, 0x58, 0x44, 0x50, 0x00, 0x01}
	SrcMAC  = []byte{0x02, 0x58, 0x44, 0x50, 0x00, 0x02}
	srcIPv4 = []byte{198, 18, 0, 2}
	dstIPv4 = []byte{198, 18, 0, 1}
	srcIPv6 = []byte{0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}
	dstIPv6 = []byte{0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
)

// Ethertypes and IP protocol numbers the frames use.
const (
	EtherIPv4   = 0x0800
	EtherARP    = 0x0806
	EtherIPv6   = 0x86dd
	Ether8021Q  = 0x8100
	Ether8021AD = 0x88a8
	EtherLocal  = 0x88b5 // IEEE local experimental: stands for any other ethertype

	ProtoHopOpts  = 0
	ProtoICMP     = 1
	ProtoTCP      = 6
	ProtoUDP      = 17
	ProtoRouting  = 43
	ProtoFragment = 44
	ProtoGRE      = 47
	ProtoAH       = 51
	ProtoICMPv6   = 58
	ProtoNoNext   = 59
	ProtoDstOpts  = 60
	ProtoSCTP     = 132
)

// Eth returns an Ethernet header with the given VLAN tags (TPID, VID pairs
// are built from each tpid in turn) and ethertype.
func Eth(ethertype uint16, vlanTPIDs ...uint16) []byte {
	b := append(append([]byte{}, DstMAC...), SrcMAC...)
	for i, tpid := range vlanTPIDs {
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, uint16(100+i)) // VID
	}
	return binary.BigEndian.AppendUint16(b, ethertype)
}

// IPv4 returns an IPv4 header with the given options (a multiple of four
// bytes) for a payload of payloadLen bytes.
func IPv4(proto byte, options []byte, payloadLen int) []byte {
	hlen := 20 + len(options)
	h := make([]byte, 20, hlen)
	h[0] = 0x40 | byte(hlen/4)
	binary.BigEndian.PutUint16(h[2:], uint16(hlen+payloadLen))
	h[8] = 1 // TTL: never forwarded beyond the first hop
	h[9] = proto
	copy(h[12:], srcIPv4)
	copy(h[16:], dstIPv4)
	h = append(h, options...)
	binary.BigEndian.PutUint16(h[10:], checksum(h))
	return h
}

// IPv6 returns an IPv6 header whose next header is nextHdr.
func IPv6(nextHdr byte, payloadLen int) []byte {
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(payloadLen))
	h[6] = nextHdr
	h[7] = 1 // hop limit
	copy(h[8:], srcIPv6)
	copy(h[24:], dstIPv6)
	return h
}

// IPv6Ext returns an extension header (hop-by-hop, routing or destination
// options) of 8*(1+hdrLen) bytes.
func IPv6Ext(nextHdr, hdrLen byte) []byte {
	h := make([]byte, 8*(1+int(hdrLen)))
	h[0], h[1] = nextHdr, hdrLen
	if len(h) > 2 {
		h[2] = 1 // PadN option filling the rest
		h[3] = byte(len(h) - 4)
	}
	return h
}

// IPv6Frag returns a fragment header; offset is in 8-byte units.
func IPv6Frag(nextHdr byte, offset uint16, more bool) []byte {
	h := make([]byte, 8)
	h[0] = nextHdr
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(h[2:], v)
	binary.BigEndian.PutUint32(h[4:], 0x58445000)
	return h
}

// IPv6AH returns an authentication header of 4*(2+payloadLen) bytes.
func IPv6AH(nextHdr, payloadLen byte) []byte {
	h := make([]byte, 4*(2+int(payloadLen)))
	h[0], h[1] = nextHdr, payloadLen
	return h
}

// Payload returns n bytes of a recognizable pattern.
func Payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

// TCP returns a minimal TCP header (a SYN) followed by payloadLen bytes of
// payload. Checksums here and in UDP and ICMPEcho are left zero: the counter
// never reads them and the frames are never delivered.
func TCP(payloadLen int) []byte {
	h := make([]byte, 20)
	binary.BigEndian.PutUint16(h[0:], 40000)
	binary.BigEndian.PutUint16(h[2:], 80)
	h[12] = 5 << 4
	h[13] = 0x02 // SYN
	return append(h, Payload(payloadLen)...)
}

// UDP returns a UDP header to dstPort followed by payloadLen bytes.
func UDP(dstPort uint16, payloadLen int) []byte {
	h := make([]byte, 8)
	binary.BigEndian.PutUint16(h[0:], 40000)
	binary.BigEndian.PutUint16(h[2:], dstPort)
	binary.BigEndian.PutUint16(h[4:], uint16(8+payloadLen))
	return append(h, Payload(payloadLen)...)
}

// ICMPEcho returns an ICMP echo request followed by payloadLen bytes.
func ICMPEcho(payloadLen int) []byte {
	h := []byte{8, 0, 0, 0, 0, 1, 0, 1}
	return append(h, Payload(payloadLen)...)
}

// ARPRequest returns an Ethernet ARP request body (28 bytes).
func ARPRequest() []byte {
	b := []byte{0, 1, 0x08, 0x00, 6, 4, 0, 1}
	b = append(b, SrcMAC...)
	b = append(b, srcIPv4...)
	b = append(b, 0, 0, 0, 0, 0, 0)
	return append(b, dstIPv4...)
}

// Cat joins header and payload pieces into one frame.
func Cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

func class(n bpf.NetworkType, t bpf.Transport) bpf.Class { return bpf.Class{Network: n, Transport: t} }

// Totals holds one direction's counters of an interface, by class index:
// what a bpf.Counts holds in Dir[direction], as a test adds up what it
// sent.
type Totals = [bpf.NumClasses]bpf.Counter

// Frames returns one well-formed frame, or more, for every class the counter
// knows, including tagged, option-carrying and extension-header variants.
// Every frame is at least an Ethernet header long and fits a 1500-byte MTU,
// so it can be injected through a veth as it is.
func Frames() []Frame {
	udp := UDP(53, 32)
	tcp := TCP(10)
	v6udp := Cat(IPv6Ext(ProtoDstOpts, 0), IPv6Ext(ProtoUDP, 1), UDP(443, 100))
	return []Frame{
		{"ipv4/tcp", Cat(Eth(EtherIPv4), IPv4(ProtoTCP, nil, len(tcp)), tcp), class(bpf.IPv4, bpf.TCP)},
		{"ipv4/udp", Cat(Eth(EtherIPv4), IPv4(ProtoUDP, nil, len(udp)), udp), class(bpf.IPv4, bpf.UDP)},
		{"ipv4/udp options", Cat(Eth(EtherIPv4), IPv4(ProtoUDP, []byte{1, 1, 1, 0, 0x94, 4, 0, 0}, len(udp)), udp), class(bpf.IPv4, bpf.UDP)},
		{"ipv4/icmp", Cat(Eth(EtherIPv4), IPv4(ProtoICMP, nil, 64), ICMPEcho(56)), class(bpf.IPv4, bpf.ICMP)},
		{"ipv4/other gre", Cat(Eth(EtherIPv4), IPv4(ProtoGRE, nil, 4), []byte{0, 0, 0x08, 0}), class(bpf.IPv4, bpf.TransportOther)},
		{"ipv4/none short header", Cat(Eth(EtherIPv4), IPv4(ProtoUDP, nil, 0)[:12]), class(bpf.IPv4, bpf.TransportNone)},
		{"ipv4/none bad ihl", Cat(Eth(EtherIPv4), []byte{0x44}, IPv4(ProtoUDP, nil, 0)[1:]), class(bpf.IPv4, bpf.TransportNone)},
		{"ipv6/tcp", Cat(Eth(EtherIPv6), IPv6(ProtoTCP, len(tcp)), tcp), class(bpf.IPv6, bpf.TCP)},
		{"ipv6/udp ext headers", Cat(Eth(EtherIPv6), IPv6(ProtoHopOpts, len(v6udp)+8), IPv6Ext(ProtoDstOpts, 0), v6udp), class(bpf.IPv6, bpf.UDP)},
		{"ipv6/icmp", Cat(Eth(EtherIPv6), IPv6(ProtoICMPv6, 8), []byte{128, 0, 0, 0, 0, 1, 0, 1}), class(bpf.IPv6, bpf.ICMP)},
		{"ipv6/other sctp", Cat(Eth(EtherIPv6), IPv6(ProtoSCTP, 12), Payload(12)), class(bpf.IPv6, bpf.TransportOther)},
		{"ipv6/none no next header", Cat(Eth(EtherIPv6), IPv6(ProtoNoNext, 0)), class(bpf.IPv6, bpf.TransportNone)},
		{"ipv6/udp fragment", Cat(Eth(EtherIPv6), IPv6(ProtoFragment, 8+len(udp)), IPv6Frag(ProtoUDP, 0, true), udp), class(bpf.IPv6, bpf.UDP)},
		{"arp", Cat(Eth(EtherARP), ARPRequest()), class(bpf.ARP, bpf.TransportNone)},
		{"other ethertype", Cat(Eth(EtherLocal), Payload(46)), class(bpf.NetworkOther, bpf.TransportNone)},
		{"vlan ipv4/udp", Cat(Eth(EtherIPv4, Ether8021Q), IPv4(ProtoUDP, nil, len(udp)), udp), class(bpf.IPv4, bpf.UDP)},
		{"qinq ipv6/tcp", Cat(Eth(EtherIPv6, Ether8021AD, Ether8021Q), IPv6(ProtoTCP, len(tcp)), tcp), class(bpf.IPv6, bpf.TCP)},
		{"qinq arp", Cat(Eth(EtherARP, Ether8021Q, Ether8021Q), ARPRequest()), class(bpf.ARP, bpf.TransportNone)},
		{"three tags", Cat(Eth(EtherIPv4, Ether8021AD, Ether8021Q, Ether8021Q), IPv4(ProtoUDP, nil, len(udp)), udp), class(bpf.NetworkOther, bpf.TransportNone)},
	}
}

// Packets returns the frames of Frames that carry IPv4 or IPv6 without a
// VLAN tag, with their Ethernet header taken off, and an IPv6 header cut
// short: what a device without a link layer (tun, WireGuard, ipip) carries,
// one packet or more of every IP class. Each starts with its IP version
// nibble, so that a tun takes it (IFF_NO_PI).
func Packets() []Frame {
	var ps []Frame
	for _, f := range Frames() {
		switch binary.BigEndian.Uint16(f.Data[12:14]) {
		case EtherIPv4, EtherIPv6:
			ps = append(ps, Frame{f.Name, f.Data[14:], f.Class})
		}
	}
	return append(ps, Frame{"ipv6/none short header", IPv6(ProtoUDP, 0)[:24], class(bpf.IPv6, bpf.TransportNone)})
}
