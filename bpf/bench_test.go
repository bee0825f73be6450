//go:build linux

package bpf_test

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/bpf/internal/baseline"
	x "github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// BenchmarkPerPacket runs each frame through three programs side by side:
// the empty floor, the seed design (hash map keyed by ethertype, atomic add)
// and the counter. One op is one packet: the whole b.N runs in one
// BPF_PROG_TEST_RUN call, timed from user space, so the figure has
// sub-nanosecond resolution. Run it with at least a million repeats
// (make bench uses -benchtime=10000000x).
func BenchmarkPerPacket(b *testing.B) {
	x.Privileged(b)
	base, err := baseline.Load()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { base.Close() })
	inst := loadInstance(b)

	udp, tcp := x.UDP(53, 18), x.TCP(6)
	frames := []struct {
		name string
		data []byte
	}{
		{"ipv4-udp", x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoUDP, nil, len(udp)), udp)},
		{"ipv6-tcp", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoTCP, len(tcp)), tcp)},
		{"qinq-ipv4-udp", x.Cat(x.Eth(x.EtherIPv4, x.Ether8021AD, x.Ether8021Q), x.IPv4(x.ProtoUDP, nil, len(udp)), udp)},
		{"arp", x.Cat(x.Eth(x.EtherARP), x.ARPRequest(), x.Payload(18))},
		// Extension headers of the lengths they have in practice: an
		// 8-byte hop-by-hop (router alert, jumbo), a 16-byte destination
		// options, and the 8-byte fragment header of a first fragment.
		{"ipv6-hbh-udp", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoHopOpts, 8+len(udp)), x.IPv6Ext(x.ProtoUDP, 0), udp)},
		{"ipv6-hbh-dst-udp", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoHopOpts, 24+len(udp)), x.IPv6Ext(x.ProtoDstOpts, 0), x.IPv6Ext(x.ProtoUDP, 1), udp)},
		{"ipv6-frag-udp", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoFragment, 8+len(udp)), x.IPv6Frag(x.ProtoUDP, 0, true), udp)},
	}
	programs := []struct {
		name string
		prog *ebpf.Program
	}{
		{"floor", base.XdpFloor},
		{"seed", base.XdpSeed},
		{"counter", inst.Program()},
	}
	for _, f := range frames {
		for _, p := range programs {
			b.Run("frame="+f.name+"/prog="+p.name, func(b *testing.B) {
				b.ResetTimer()
				ret, err := p.prog.Run(&ebpf.RunOptions{Data: f.data, Repeat: uint32(b.N), Reset: b.ResetTimer}) //nolint:staticcheck // timed from user space for sub-ns resolution: a run restarted by a signal restarts the timer
				if err != nil || ret != xdpPass {
					b.Fatalf("ret %d, err %v", ret, err)
				}
			})
		}
	}
}

// BenchmarkRead measures reading one interface's totals: one batch lookup of
// every class's per-CPU values, summed. Its cost follows the bytes copied,
// classes x possible CPUs x 16; the slots sub-benchmarks read per-CPU arrays
// of other sizes to show how it grows.
func BenchmarkRead(b *testing.B) {
	inst := loadInstance(b)
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("counter/classes=%d/cpus=%d", bpf.NumClasses, cpus), func(b *testing.B) {
		var t bpf.Totals
		b.ReportAllocs()
		for b.Loop() {
			if err := inst.Read(&t); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, slots := range []int{bpf.NumClasses, 4 * bpf.NumClasses, 16 * bpf.NumClasses} {
		b.Run(fmt.Sprintf("percpu-array/slots=%d/cpus=%d", slots, cpus), func(b *testing.B) {
			m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 16, MaxEntries: uint32(slots)})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			keys := make([]uint32, slots)
			values := make([]bpf.Counter, slots*cpus)
			b.ReportAllocs()
			for b.Loop() {
				var cursor ebpf.MapBatchCursor
				if _, err := m.BatchLookup(&cursor, keys, values, nil); err != nil && !isEnd(err) {
					b.Fatal(err)
				}
			}
		})
	}
}
