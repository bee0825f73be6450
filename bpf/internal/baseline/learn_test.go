//go:build linux

package baseline

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	x "github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// loIndex is lo's ifindex: BPF_PROG_TEST_RUN runs a TC program's packet on
// lo.
const loIndex = 1

// tcActUnspec is TC_ACT_UNSPEC as BPF_PROG_TEST_RUN returns it.
const tcActUnspec = 0xffffffff

// Offsets of the IP source address in the test's Ethernet frames.
const (
	ipv4Src = 14 + 12
	ipv6Src = 14 + 8
)

func from(frame []byte, off int, src netip.Addr) []byte {
	f := append([]byte{}, frame...)
	copy(f[off:], src.AsSlice())
	return f
}

// TestLearnerLearnsThePodsAddresses runs frames through the learning
// counter, each with every CPU's slot set to have learnt before the
// addresses prev, and checks what the CPU that ran it learnt: the source
// address, of its IP version, of a frame that can be a pod's own, and
// nothing from any other frame; and that it counted the frame, once.
func TestLearnerLearnsThePodsAddresses(t *testing.T) {
	x.Privileged(t)
	l, err := LoadLearner(loIndex)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })

	tcp, udp := x.TCP(6), x.UDP(53, 18)
	ipv4 := x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoTCP, nil, len(tcp)), tcp)
	ipv4udp := x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoUDP, nil, len(udp)), udp)
	tagged := x.Cat(x.Eth(x.EtherIPv4, x.Ether8021AD, x.Ether8021Q), x.IPv4(x.ProtoUDP, nil, len(udp)), udp)
	ipv6 := x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoTCP, len(tcp)), tcp)
	ipv6ext := x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoHopOpts, 8+len(udp)), x.IPv6Ext(x.ProtoUDP, 0), udp)
	arp := x.Cat(x.Eth(x.EtherARP), x.ARPRequest(), x.Payload(18))
	a := netip.MustParseAddr
	prev4, prev6 := a("198.18.0.9"), a("2001:2::9")

	for _, tc := range []struct {
		name   string
		frame  []byte
		learnt netip.Addr // invalid: nothing
	}{
		{"ipv4", from(ipv4, ipv4Src, a("198.18.0.2")), a("198.18.0.2")},
		{"ipv4-same", from(ipv4, ipv4Src, prev4), prev4},
		{"ipv4-class-a", from(ipv4udp, ipv4Src, a("10.244.1.7")), a("10.244.1.7")},
		{"ipv4-below-multicast", from(ipv4udp, ipv4Src, a("223.255.255.254")), a("223.255.255.254")},
		{"ipv4-vlans", from(tagged, ipv4Src+8, a("198.18.0.3")), a("198.18.0.3")},
		{"ipv4-dhcp-unspecified", from(ipv4udp, ipv4Src, a("0.0.0.0")), netip.Addr{}},
		{"ipv4-this-network", from(ipv4udp, ipv4Src, a("0.1.2.3")), netip.Addr{}},
		{"ipv4-loopback", from(ipv4udp, ipv4Src, a("127.0.0.1")), netip.Addr{}},
		{"ipv4-link-local", from(ipv4udp, ipv4Src, a("169.254.1.1")), netip.Addr{}},
		{"ipv4-multicast", from(ipv4udp, ipv4Src, a("224.0.0.251")), netip.Addr{}},
		{"ipv4-reserved", from(ipv4udp, ipv4Src, a("240.0.0.1")), netip.Addr{}},
		{"ipv4-broadcast", from(ipv4udp, ipv4Src, a("255.255.255.255")), netip.Addr{}},
		{"ipv6", from(ipv6, ipv6Src, a("2001:2::2")), a("2001:2::2")},
		{"ipv6-same", from(ipv6, ipv6Src, prev6), prev6},
		{"ipv6-unique-local", from(ipv6, ipv6Src, a("fd00:10:244::7")), a("fd00:10:244::7")},
		{"ipv6-extension-headers", from(ipv6ext, ipv6Src, a("2001:2::3")), a("2001:2::3")},
		{"ipv6-dad-unspecified", from(ipv6, ipv6Src, a("::")), netip.Addr{}},
		{"ipv6-loopback", from(ipv6, ipv6Src, a("::1")), netip.Addr{}},
		{"ipv6-mapped", from(ipv6, ipv6Src, a("::ffff:198.18.0.2")), netip.Addr{}},
		{"ipv6-link-local", from(ipv6, ipv6Src, a("fe80::1")), netip.Addr{}},
		{"ipv6-multicast", from(ipv6, ipv6Src, a("ff02::1")), netip.Addr{}},
		{"arp", arp, netip.Addr{}},
		// Cut short: the IPv4 header's ihl says 24 bytes that the frame
		// has not.
		{"ipv4-short", func() []byte {
			f := from(ipv4udp, ipv4Src, a("198.18.0.4"))[:14+22]
			f[14] = 0x46
			return f
		}(), netip.Addr{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set(t, l, prev4, prev6)
			ret, err := l.Prog.Run(&ebpf.RunOptions{Data: tc.frame, Repeat: 1})
			if err != nil || ret != tcActUnspec {
				t.Fatalf("run: %#x, %v", ret, err)
			}
			v, err := l.Slot()
			if err != nil {
				t.Fatal(err)
			}
			var packets, bytes uint64
			ran := -1 // the CPU that counted the frame
			for cpu := range v {
				for dir := range v[cpu].Counters.Dir {
					for _, c := range v[cpu].Counters.Dir[dir] {
						if dir != 0 && c.Packets != 0 {
							t.Errorf("CPU %d counted in direction %d", cpu, dir)
						}
						packets += c.Packets
						bytes += c.Bytes
						if c.Packets != 0 {
							ran = cpu
						}
					}
				}
			}
			if packets != 1 || bytes != uint64(len(tc.frame)) {
				t.Fatalf("counted %d packets, %d bytes, want 1, %d", packets, bytes, len(tc.frame))
			}
			for cpu := range v {
				want4, want6 := prev4, prev6
				if cpu == ran && tc.learnt.Is4() {
					want4 = tc.learnt
				}
				if cpu == ran && tc.learnt.Is6() {
					want6 = tc.learnt
				}
				if v4, v6 := v[cpu].Sources(); v4 != want4 || v6 != want6 {
					t.Errorf("CPU %d learnt %v and %v, want %v and %v", cpu, v4, v6, want4, want6)
				}
			}
		})
	}
}

// set zeroes slot 1's counters and sets what it learnt on every CPU to v4
// and v6.
func set(t *testing.T, l *Learner, v4, v6 netip.Addr) {
	t.Helper()
	v, err := l.Slot()
	if err != nil {
		t.Fatal(err)
	}
	var s LearningSlot
	s.Source.Ipv4 = binary.NativeEndian.Uint32(v4.AsSlice())
	b6 := v6.As16()
	s.Source.Ipv6 = [2]uint64{binary.NativeEndian.Uint64(b6[:8]), binary.NativeEndian.Uint64(b6[8:])}
	for i := range v {
		v[i] = s
	}
	if err := l.Counters.Put(uint32(1), v); err != nil {
		t.Fatal(err)
	}
	if got4, got6 := v[0].Sources(); got4 != v4 || got6 != v6 {
		t.Fatalf("set %v and %v, read %v and %v", v4, v6, got4, got6)
	}
}
