//go:build linux

package bpf_test

import (
	"fmt"
	"testing"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	x "github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

func cls(n bpf.NetworkType, t bpf.Transport) bpf.Class { return bpf.Class{Network: n, Transport: t} }

var (
	ipv4None = cls(bpf.IPv4, bpf.TransportNone)
	ipv6None = cls(bpf.IPv6, bpf.TransportNone)
	other    = cls(bpf.NetworkOther, bpf.TransportNone)
)

// forEachRunner runs test against every program and variant: XDP with and
// without frags, TC ingress and egress, for Ethernet devices and for
// devices without a link layer. All classify alike.
func forEachRunner(t *testing.T, test func(t *testing.T, r *runner)) {
	for _, r := range runners(t) {
		t.Run(r.name, func(t *testing.T) { test(t, r) })
	}
}

func TestClassifiesEveryClass(t *testing.T) {
	forEachRunner(t, func(t *testing.T, r *runner) {
		for _, f := range x.Frames() {
			data, want, ok := r.frame(f.Data, f.Class)
			if !ok {
				continue
			}
			t.Run(f.Name, func(t *testing.T) {
				if d, ok := r.runFrame(t, data); ok {
					requireOnly(t, d, want, len(data))
				}
			})
		}
	})
}

func TestClassifiesEdgeCases(t *testing.T) {
	forEachRunner(t, testEdgeCases)
}

func testEdgeCases(t *testing.T, r *runner) {
	udp := x.UDP(53, 8)
	exts := func(n int) []byte { // n destination-options headers, then UDP
		var b []byte
		for i := 0; i < n; i++ {
			next := byte(x.ProtoDstOpts)
			if i == n-1 {
				next = x.ProtoUDP
			}
			b = append(b, x.IPv6Ext(next, 0)...)
		}
		return b
	}
	nonFirstFragment := x.IPv4(x.ProtoUDP, nil, 8)
	nonFirstFragment[6] = 0x00
	nonFirstFragment[7] = 0x10 // fragment offset 16 (x8 bytes): no UDP header here
	v4InV6 := x.IPv4(x.ProtoUDP, nil, len(udp))
	v4InV6[0] = 0x65

	for _, tc := range []struct {
		name  string
		frame []byte
		want  bpf.Class
	}{
		{"ipv4 carrying icmpv6 is other", x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoICMPv6, nil, 8), x.Payload(8)), cls(bpf.IPv4, bpf.TransportOther)},
		{"ipv6 carrying icmpv4 is other", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoICMP, 8), x.Payload(8)), cls(bpf.IPv6, bpf.TransportOther)},
		{"ipv4 non-first fragment counts as its protocol", x.Cat(x.Eth(x.EtherIPv4), nonFirstFragment, x.Payload(8)), cls(bpf.IPv4, bpf.UDP)},
		{"ipv6 non-first fragment counts as its protocol", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoFragment, 16), x.IPv6Frag(x.ProtoUDP, 100, false), x.Payload(8)), cls(bpf.IPv6, bpf.UDP)},
		// The payload of a non-first fragment is never a header: here it
		// would read as an AH of length 0 naming TCP.
		{"ipv6 non-first fragment naming an extension header is unknown", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoFragment, 16), x.IPv6Frag(x.ProtoAH, 1, true), []byte{x.ProtoTCP, 0}, x.Payload(6)), ipv6None},
		{"ipv6 non-first fragment naming destination options is unknown", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoFragment, 16), x.IPv6Frag(x.ProtoDstOpts, 2, false), x.IPv6Ext(x.ProtoUDP, 0)), ipv6None},
		{"ipv6 non-first fragment cut inside its fragment header", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoFragment, 16), x.IPv6Frag(x.ProtoUDP, 1, true)[:6]), ipv6None},
		{"ipv6 first fragment walks on", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoFragment, 8+24+20), x.IPv6Frag(x.ProtoAH, 0, true), x.IPv6AH(x.ProtoTCP, 4), x.TCP(0)), cls(bpf.IPv6, bpf.TCP)},
		{"ipv4 ethertype with a version 6 header", x.Cat(x.Eth(x.EtherIPv4), v4InV6, udp), ipv4None},
		{"ipv6 ethertype with a version 4 header", x.Cat(x.Eth(x.EtherIPv6), x.IPv4(x.ProtoUDP, nil, 0), x.Payload(20)), ipv6None},
		{"ipv6 with routing header", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoRouting, 24+len(udp)), x.IPv6Ext(x.ProtoUDP, 2), udp), cls(bpf.IPv6, bpf.UDP)},
		{"ipv6 with authentication header", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoAH, 24+20), x.IPv6AH(x.ProtoTCP, 4), x.TCP(0)), cls(bpf.IPv6, bpf.TCP)},
		{"ipv6 with six extension headers", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoDstOpts, 48+len(udp)), exts(6), udp), cls(bpf.IPv6, bpf.UDP)},
		{"ipv6 with seven extension headers is too deep", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoDstOpts, 56+len(udp)), exts(7), udp), ipv6None},
		{"802.1ad outer, 802.1q inner", x.Cat(x.Eth(x.EtherIPv4, x.Ether8021AD, x.Ether8021Q), x.IPv4(x.ProtoUDP, nil, len(udp)), udp), cls(bpf.IPv4, bpf.UDP)},
		{"802.1q outer, 802.1ad inner", x.Cat(x.Eth(x.EtherIPv4, x.Ether8021Q, x.Ether8021AD), x.IPv4(x.ProtoTCP, nil, 20), x.TCP(0)), cls(bpf.IPv4, bpf.TCP)},
		{"ethertype zero", x.Cat(x.Eth(0), x.Payload(46)), other},
		{"bare ethernet header", x.Eth(x.EtherIPv4), ipv4None},
		{"jumbo ipv4/udp spanning several buffers", x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoUDP, nil, 8958), x.UDP(9, 8950)), cls(bpf.IPv4, bpf.UDP)},
	} {
		if len(tc.frame) > 4096 && !r.frags {
			continue // a program without frags only ever sees one buffer
		}
		data, want, ok := r.frame(tc.frame, tc.want)
		if !ok {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			if d, ok := r.runFrame(t, data); ok {
				requireOnly(t, d, want, len(data))
			}
		})
	}
}

// TestCutShort cuts frames at every header boundary, and one byte either side
// of it: a frame counts in the deepest class whose headers it holds whole,
// always with its full length.
func TestCutShort(t *testing.T) {
	forEachRunner(t, testCutShort)
}

func testCutShort(t *testing.T, r *runner) {
	udp, tcp := x.UDP(53, 8), x.TCP(4)
	type cut struct {
		at   int
		want bpf.Class
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		cuts  []cut
	}{
		{
			"ipv4 with options", // eth 14 | ipv4 20 + options 8 | udp
			x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoUDP, []byte{1, 1, 1, 0, 0x94, 4, 0, 0}, len(udp)), udp),
			[]cut{{14, ipv4None}, {15, ipv4None}, {33, ipv4None}, {34, ipv4None}, {41, ipv4None}, {42, cls(bpf.IPv4, bpf.UDP)}, {43, cls(bpf.IPv4, bpf.UDP)}},
		},
		{
			"vlan ipv4", // eth 14 | tag 4 | ipv4 20 | tcp
			x.Cat(x.Eth(x.EtherIPv4, x.Ether8021Q), x.IPv4(x.ProtoTCP, nil, len(tcp)), tcp),
			[]cut{{14, other}, {17, other}, {18, ipv4None}, {37, ipv4None}, {38, cls(bpf.IPv4, bpf.TCP)}},
		},
		{
			"qinq ipv6", // eth 14 | tag 4 | tag 4 | ipv6 40 | tcp
			x.Cat(x.Eth(x.EtherIPv6, x.Ether8021AD, x.Ether8021Q), x.IPv6(x.ProtoTCP, len(tcp)), tcp),
			[]cut{{14, other}, {18, other}, {21, other}, {22, ipv6None}, {61, ipv6None}, {62, cls(bpf.IPv6, bpf.TCP)}},
		},
		{
			"ipv6 extension headers", // eth 14 | ipv6 40 | hop 8 | dst 8 | dst 16 | udp
			x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoHopOpts, 32+len(udp)), x.IPv6Ext(x.ProtoDstOpts, 0), x.IPv6Ext(x.ProtoDstOpts, 0), x.IPv6Ext(x.ProtoUDP, 1), udp),
			[]cut{{54, ipv6None}, {55, ipv6None}, {61, ipv6None}, {62, ipv6None}, {69, ipv6None}, {70, ipv6None}, {85, ipv6None}, {86, cls(bpf.IPv6, bpf.UDP)}},
		},
		{
			"ipv6 fragment", // eth 14 | ipv6 40 | frag 8 | udp
			x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoFragment, 8+len(udp)), x.IPv6Frag(x.ProtoUDP, 0, true), udp),
			[]cut{{54, ipv6None}, {61, ipv6None}, {62, cls(bpf.IPv6, bpf.UDP)}},
		},
		{
			"ipv6 authentication header", // eth 14 | ipv6 40 | ah 24 | tcp
			x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoAH, 24+len(tcp)), x.IPv6AH(x.ProtoTCP, 4), tcp),
			[]cut{{55, ipv6None}, {77, ipv6None}, {78, cls(bpf.IPv6, bpf.TCP)}},
		},
		{
			"arp", // eth 14 | arp 28
			x.Cat(x.Eth(x.EtherARP), x.ARPRequest()),
			[]cut{{14, cls(bpf.ARP, bpf.TransportNone)}, {20, cls(bpf.ARP, bpf.TransportNone)}},
		},
	} {
		for _, c := range tc.cuts {
			data, want, ok := r.frame(tc.frame[:c.at], c.want)
			if !ok {
				continue
			}
			t.Run(fmt.Sprintf("%s/%d", tc.name, c.at), func(t *testing.T) {
				if d, ok := r.runFrame(t, data); ok {
					requireOnly(t, d, want, len(data))
				}
			})
		}
	}
}

// skBuff is struct __sk_buff as BPF_PROG_TEST_RUN takes it for TC programs:
// of its fields, only a few may be set, among them gso_segs and gso_size.
type skBuff struct {
	_       [164 / 4]uint32 // len ... wire_len
	GSOSegs uint32          // 164
	_       [2]uint32       // sk
	GSOSize uint32          // 176
	_       [3]uint32       // tstamp_type, padding, hwtstamp
}

// TestTCCountsSegments: at TC a GSO packet counts as the segments the wire
// carries, and its bytes as they carry them, every header that each
// segment repeats once per segment: for a tunnel, the outer headers, the
// tunnel's, and the inner ones up to the inner transport header. A packet
// whose segment count the kernel does not trust (gso_segs 0,
// SKB_GSO_DODGY) counts as many segments as gso_size makes of its payload.
func TestTCCountsSegments(t *testing.T) {
	rs := runners(t)
	tcp := func(optWords, payload int) []byte {
		h := x.TCP(0)
		h[12] = byte(5+optWords) << 4
		return x.Cat(h, make([]byte, optWords*4), x.Payload(payload))
	}
	v4 := func(l4 []byte) []byte { return x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoTCP, nil, len(l4)), l4) }
	// Tunnels: an outer IPv4 (or IPv6) packet of protocol proto around
	// the tunnel header and the inner packet.
	outer4 := func(proto byte, inner ...[]byte) []byte {
		b := x.Cat(inner...)
		return x.Cat(x.Eth(x.EtherIPv4), x.IPv4(proto, nil, len(b)), b)
	}
	outer6 := func(proto byte, inner ...[]byte) []byte {
		b := x.Cat(inner...)
		return x.Cat(x.Eth(x.EtherIPv6), x.IPv6(proto, len(b)), b)
	}
	udp := func(port uint16) []byte { return x.UDP(port, 0) }          // its header
	in4 := x.Cat(x.IPv4(x.ProtoTCP, nil, 32+2896), tcp(3, 2896))       // 20 + 32 bytes of headers
	in6 := x.Cat(x.IPv6(x.ProtoTCP, 20+2000), tcp(0, 2000))            // 40 + 20
	in4udp := x.Cat(x.IPv4(x.ProtoUDP, nil, 8+2400), x.UDP(443, 2400)) // 20 + 8
	vxlan := []byte{0x08, 0, 0, 0, 0x00, 0x10, 0x92, 0}
	vxlanGBP := []byte{0x88, 0, 0x12, 0x34, 0x00, 0x10, 0x92, 0}
	geneve := func(optWords byte, proto uint16) []byte {
		return x.Cat([]byte{optWords, 0, byte(proto >> 8), byte(proto), 0, 0x10, 0x92, 0}, make([]byte, int(optWords)*4))
	}
	const teb = 0x6558
	const outerUDP = 14 + 20 + 8
	for _, tc := range []struct {
		name       string
		frame      []byte
		segs, size uint32
		wantSegs   uint64
		headers    int // repeated by every segment
		class      bpf.Class
	}{
		{"ipv4 tcp", v4(tcp(0, 1200)), 3, 500, 3, 14 + 20 + 20, cls(bpf.IPv4, bpf.TCP)},
		{"ipv4 tcp with options", v4(tcp(3, 2896)), 2, 1448, 2, 14 + 20 + 32, cls(bpf.IPv4, bpf.TCP)},
		{"ipv4 tcp untrusted", v4(tcp(0, 1201)), 0, 400, 4, 14 + 20 + 20, cls(bpf.IPv4, bpf.TCP)},
		{"ipv6 tcp", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoTCP, 20+3000), tcp(0, 3000)), 3, 1000, 3, 14 + 40 + 20, cls(bpf.IPv6, bpf.TCP)},
		{"ipv4 udp", x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoUDP, nil, 8+3000), x.UDP(443, 3000)), 3, 1000, 3, 14 + 20 + 8, cls(bpf.IPv4, bpf.UDP)},
		{"not gso", v4(tcp(0, 100)), 1, 0, 1, 0, cls(bpf.IPv4, bpf.TCP)},
		// Tunnels are told by their headers, whatever their port.
		{"vxlan", outer4(x.ProtoUDP, udp(4789), vxlan, x.Eth(x.EtherIPv4), in4), 2, 1448, 2, outerUDP + 8 + 14 + 20 + 32, cls(bpf.IPv4, bpf.UDP)},
		{"vxlan on linux's port", outer4(x.ProtoUDP, udp(8472), vxlan, x.Eth(x.EtherIPv4), in4), 2, 1448, 2, outerUDP + 8 + 14 + 20 + 32, cls(bpf.IPv4, bpf.UDP)},
		{"vxlan gbp", outer4(x.ProtoUDP, udp(4789), vxlanGBP, x.Eth(x.EtherIPv4), in4), 2, 1448, 2, outerUDP + 8 + 14 + 20 + 32, cls(bpf.IPv4, bpf.UDP)},
		{"vxlan ipv6 inner", outer4(x.ProtoUDP, udp(4789), vxlan, x.Eth(x.EtherIPv6), in6), 2, 1000, 2, outerUDP + 8 + 14 + 40 + 20, cls(bpf.IPv4, bpf.UDP)},
		{"vxlan udp inner", outer4(x.ProtoUDP, udp(4789), vxlan, x.Eth(x.EtherIPv4), in4udp), 2, 1200, 2, outerUDP + 8 + 14 + 20 + 8, cls(bpf.IPv4, bpf.UDP)},
		{"vxlan untrusted", outer4(x.ProtoUDP, udp(9999), vxlan, x.Eth(x.EtherIPv4), in4), 0, 1000, 3, outerUDP + 8 + 14 + 20 + 32, cls(bpf.IPv4, bpf.UDP)},
		{"vxlan over ipv6", outer6(x.ProtoUDP, udp(4789), vxlan, x.Eth(x.EtherIPv4), in4), 2, 1448, 2, 14 + 40 + 8 + 8 + 14 + 20 + 32, cls(bpf.IPv6, bpf.UDP)},
		{"geneve", outer4(x.ProtoUDP, udp(6081), geneve(0, teb), x.Eth(x.EtherIPv4), in4), 2, 1448, 2, outerUDP + 8 + 14 + 20 + 32, cls(bpf.IPv4, bpf.UDP)},
		{"geneve with options", outer4(x.ProtoUDP, udp(6081), geneve(2, teb), x.Eth(x.EtherIPv4), in4), 2, 1448, 2, outerUDP + 16 + 14 + 20 + 32, cls(bpf.IPv4, bpf.UDP)},
		{"geneve carrying ipv6", outer4(x.ProtoUDP, udp(6081), geneve(0, x.EtherIPv6), in6), 2, 1000, 2, outerUDP + 8 + 40 + 20, cls(bpf.IPv4, bpf.UDP)},
		{"ipip", outer4(4, in4), 2, 1448, 2, 14 + 20 + 20 + 32, cls(bpf.IPv4, bpf.TransportOther)},
		{"sit", outer4(41, in6), 2, 1000, 2, 14 + 20 + 40 + 20, cls(bpf.IPv4, bpf.TransportOther)},
		{"ipv6 in ipv6", outer6(41, in6), 2, 1000, 2, 14 + 40 + 40 + 20, cls(bpf.IPv6, bpf.TransportOther)},
		{"ipv4 in ipv6", outer6(4, in4), 2, 1448, 2, 14 + 40 + 20 + 32, cls(bpf.IPv6, bpf.TransportOther)},
		{"gre", outer4(x.ProtoGRE, []byte{0, 0, 0x08, 0}, in4), 2, 1448, 2, 14 + 20 + 4 + 20 + 32, cls(bpf.IPv4, bpf.TransportOther)},
		{"gre with checksum, key and sequence", outer4(x.ProtoGRE, []byte{0xb0, 0, 0x86, 0xdd}, make([]byte, 12), in6), 2, 1000, 2, 14 + 20 + 16 + 40 + 20, cls(bpf.IPv4, bpf.TransportOther)},
		{"gretap", outer4(x.ProtoGRE, []byte{0x20, 0, 0x65, 0x58}, make([]byte, 4), x.Eth(x.EtherIPv4), in4), 2, 1448, 2, 14 + 20 + 8 + 14 + 20 + 32, cls(bpf.IPv4, bpf.TransportOther)},
		// What is no tunnel counts its outer headers alone.
		{"udp gso like vxlan without a frame", outer4(x.ProtoUDP, udp(4789), vxlan, x.Eth(x.EtherLocal), x.Payload(2900)), 3, 1000, 3, outerUDP, cls(bpf.IPv4, bpf.UDP)},
		{"udp gso of quic", outer4(x.ProtoUDP, udp(443), []byte{0x40, 0, 0x65, 0x58}, x.Payload(2996)), 3, 1000, 3, outerUDP, cls(bpf.IPv4, bpf.UDP)},
		{"gre with routing", outer4(x.ProtoGRE, []byte{0x40, 0, 0x08, 0}, in4), 2, 1448, 2, 14 + 20, cls(bpf.IPv4, bpf.TransportOther)},
		{"ipip cut inside the inner header", outer4(4, in4[:30]), 2, 10, 2, 14 + 20, cls(bpf.IPv4, bpf.TransportOther)},
	} {
		for _, r := range rs[2:4] { // the TC programs for Ethernet
			t.Run(r.name+"/"+tc.name, func(t *testing.T) {
				before := r.totals(t)
				o := r.options(tc.frame, 1)
				o.Context = skBuff{GSOSegs: tc.segs, GSOSize: tc.size}
				r.run(t, o)
				bytes := uint64(len(tc.frame)) + (tc.wantSegs-1)*uint64(tc.headers)
				requireCounted(t, diff(r.totals(t), before), tc.class, tc.wantSegs, bytes)
			})
		}
	}
}
