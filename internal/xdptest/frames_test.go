package xdptest

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// TestFramesCoverEveryClass: the catalog holds a frame of every class a
// frame can count as (ARP and other ethertypes carry no transport, so
// theirs is always none), under names of their own, each at least an
// Ethernet header and at most a 1500-byte MTU's frame long.
func TestFramesCoverEveryClass(t *testing.T) {
	want := map[bpf.Class]bool{
		class(bpf.ARP, bpf.TransportNone):          true,
		class(bpf.NetworkOther, bpf.TransportNone): true,
	}
	for _, n := range []bpf.NetworkType{bpf.IPv4, bpf.IPv6} {
		for _, tr := range []bpf.Transport{bpf.TCP, bpf.UDP, bpf.ICMP, bpf.TransportOther, bpf.TransportNone} {
			want[class(n, tr)] = true
		}
	}
	got, names := map[bpf.Class]bool{}, map[string]bool{}
	for _, f := range Frames() {
		got[f.Class] = true
		if names[f.Name] {
			t.Errorf("two frames are named %q", f.Name)
		}
		names[f.Name] = true
		if len(f.Data) < 14 || len(f.Data) > 1514 {
			t.Errorf("%s: %d bytes, want 14 to 1514", f.Name, len(f.Data))
		}
	}
	for c := range want {
		if !got[c] {
			t.Errorf("no frame of class %v", c)
		}
	}
	for c := range got {
		if !want[c] {
			t.Errorf("a frame of class %v, which no frame can be", c)
		}
	}
}

// TestEth: the header holds the destination and source MACs, each VLAN
// tag with its TPID and a VID of its own, and the ethertype last.
func TestEth(t *testing.T) {
	h := Eth(EtherIPv6, Ether8021AD, Ether8021Q)
	want := Cat(DstMAC, SrcMAC, []byte{0x88, 0xa8, 0, 100, 0x81, 0x00, 0, 101, 0x86, 0xdd})
	if !bytes.Equal(h, want) {
		t.Errorf("Eth(IPv6, 802.1ad, 802.1q) = % x, want % x", h, want)
	}
	if h := Eth(EtherARP); !bytes.Equal(h, Cat(DstMAC, SrcMAC, []byte{0x08, 0x06})) {
		t.Errorf("Eth(ARP) = % x", h)
	}
}

// TestIPHeaders: the IP headers have the version, lengths and next
// protocol they are built with, and an IPv4 header's checksum holds, so
// that nothing on the way drops a frame as corrupt.
func TestIPHeaders(t *testing.T) {
	opts := []byte{1, 1, 1, 0}
	v4 := IPv4(ProtoUDP, opts, 30)
	if len(v4) != 24 || v4[0] != 0x46 || binary.BigEndian.Uint16(v4[2:]) != 54 || v4[9] != ProtoUDP || v4[8] != 1 {
		t.Errorf("IPv4(UDP, 4 bytes of options, 30) = % x", v4)
	}
	if c := checksum(v4); c != 0 {
		t.Errorf("IPv4 header checksum does not hold: %#04x", c)
	}
	v6 := IPv6(ProtoTCP, 1000)
	if len(v6) != 40 || v6[0]>>4 != 6 || binary.BigEndian.Uint16(v6[4:]) != 1000 || v6[6] != ProtoTCP {
		t.Errorf("IPv6(TCP, 1000) = % x", v6)
	}
	for _, tc := range []struct {
		name      string
		h         []byte
		next      byte
		length    int
		lengthFld byte
	}{
		{"extension header", IPv6Ext(ProtoUDP, 2), ProtoUDP, 24, 2},
		{"authentication header", IPv6AH(ProtoTCP, 4), ProtoTCP, 24, 4},
		{"fragment header", IPv6Frag(ProtoUDP, 100, true), ProtoUDP, 8, 0},
	} {
		if len(tc.h) != tc.length || tc.h[0] != tc.next || tc.h[1] != tc.lengthFld {
			t.Errorf("%s = % x: want %d bytes, next header %d, length field %d", tc.name, tc.h, tc.length, tc.next, tc.lengthFld)
		}
	}
	if v := binary.BigEndian.Uint16(IPv6Frag(ProtoUDP, 100, true)[2:]); v != 100<<3|1 {
		t.Errorf("fragment offset and M flag %#04x, want offset 100 and more fragments", v)
	}
	if v := binary.BigEndian.Uint16(IPv6Frag(ProtoUDP, 7, false)[2:]); v != 7<<3 {
		t.Errorf("fragment offset and M flag %#04x, want offset 7 and no more fragments", v)
	}
}

// TestTransportHeaders: TCP, UDP, ICMP and ARP bodies have their
// headers' lengths and fields, followed by the payload asked for.
func TestTransportHeaders(t *testing.T) {
	tcp := TCP(10)
	if len(tcp) != 30 || tcp[12]>>4 != 5 || tcp[13] != 0x02 || !bytes.Equal(tcp[20:], Payload(10)) {
		t.Errorf("TCP(10) = % x", tcp)
	}
	udp := UDP(53, 32)
	if len(udp) != 40 || binary.BigEndian.Uint16(udp[2:]) != 53 || binary.BigEndian.Uint16(udp[4:]) != 40 {
		t.Errorf("UDP(53, 32) = % x", udp)
	}
	if icmp := ICMPEcho(56); len(icmp) != 64 || icmp[0] != 8 {
		t.Errorf("ICMPEcho(56) = % x", icmp)
	}
	if arp := ARPRequest(); len(arp) != 28 || binary.BigEndian.Uint16(arp[6:]) != 1 {
		t.Errorf("ARPRequest() = % x", arp)
	}
	if p := Payload(300); len(p) != 300 || p[0] != 0 || p[255] != 255 || p[256] != 0 {
		t.Errorf("Payload(300) does not count up byte by byte")
	}
}

// TestTotalsIsADirectionOfCounts: a direction of bpf.Counts is a Totals,
// whose index i holds the counter of bpf.ClassAt(i).
func TestTotalsIsADirectionOfCounts(t *testing.T) {
	var c bpf.Counts
	for i := range bpf.NumClasses {
		c.Dir[bpf.Transmit][bpf.ClassAt(i).Index()] = bpf.Counter{Packets: uint64(i), Bytes: uint64(100 * i)}
	}
	check := func(dir bpf.Direction, tot Totals, want func(i int) bpf.Counter) {
		for i, got := range tot {
			if got != want(i) {
				t.Errorf("%v: Totals[%d] (%v) = %+v, want %+v", dir, i, bpf.ClassAt(i), got, want(i))
			}
		}
	}
	check(bpf.Transmit, c.Dir[bpf.Transmit], func(i int) bpf.Counter { return bpf.Counter{Packets: uint64(i), Bytes: uint64(100 * i)} })
	check(bpf.Receive, c.Dir[bpf.Receive], func(int) bpf.Counter { return bpf.Counter{} })
}
