//go:build linux

package bpf_test

import (
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/bpf/internal/baseline"
	x "github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// BenchmarkPerPacket runs each frame through the programs side by side:
//
//	xdp-floor, tc-floor  empty XDP and TC programs: the cost of any program
//	seed                 the design this project started from: a hash map
//	                     keyed by ethertype, incremented atomically
//	xdp, tc              the counter as the receiver attaches it: its slot
//	                     found in the slot index by the interface's index
//	xdp-hash             design alternative: the slot found in a hash map
//	xdp-const            design alternative: a copy of the program per
//	                     interface, its slot a load-time constant
//	tc-learn             design alternative: tc (receive) that also learns
//	                     a pod's addresses from the packets it sends
//	                     (BENCH_LEARN in counter.c), for CNIs that leave
//	                     the host no route to the pod; shipped only if it
//	                     costs a packet under 1 ns more than tc
//
// One op is one packet: the whole b.N runs in one BPF_PROG_TEST_RUN call,
// timed from user space, so the figure has sub-nanosecond resolution. Run
// it with at least a million repeats (make bench uses -benchtime=10000000x).
func BenchmarkPerPacket(b *testing.B) {
	x.Privileged(b)
	base, err := baseline.Load()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { base.Close() })
	xdp, tc := newRunner(b, "xdp", loadDatapath(b, bpf.Options{Capacity: 4}), true, bpf.Receive, bpf.LayerEthernet), (*runner)(nil)
	tc = newRunner(b, "tc", xdp.d, false, bpf.Receive, bpf.LayerEthernet)
	hashed := newRunner(b, "xdp-hash", loadDatapath(b, bpf.Options{Capacity: 4}), true, bpf.Receive, bpf.LayerEthernet)
	if err := hashed.d.MoveToHash(loIndex); err != nil {
		b.Fatal(err)
	}
	konst, closer, err := baseline.SlotConst()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { closer.Close() })
	learner, err := baseline.LoadLearner(loIndex)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { learner.Close() })

	udp, tcp := x.UDP(53, 18), x.TCP(6)
	frames := []struct {
		name string
		data []byte
	}{
		{"ipv4-udp", x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoUDP, nil, len(udp)), udp)},
		{"ipv4-tcp", x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoTCP, nil, len(tcp)), tcp)},
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
		opts func(frame []byte, repeat uint32) *ebpf.RunOptions
	}{
		{"xdp-floor", base.XdpFloor, plain},
		{"seed", base.XdpSeed, plain},
		{"xdp", xdp.prog, xdp.options},
		{"xdp-hash", hashed.prog, hashed.options},
		{"xdp-const", konst, plain},
		{"tc-floor", base.TcFloor, plain},
		{"tc", tc.prog, tc.options},
		{"tc-learn", learner.Prog, plain},
	}
	for _, f := range frames {
		for _, p := range programs {
			b.Run("frame="+f.name+"/prog="+p.name, func(b *testing.B) {
				o := p.opts(f.data, uint32(b.N))
				o.Reset = b.ResetTimer //nolint:staticcheck // timed from user space for sub-ns resolution: a run restarted by a signal restarts the timer
				b.ResetTimer()
				if _, err := p.prog.Run(o); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// BenchmarkLearnCost measures what learning a pod's addresses from its
// traffic (tc-learn in BenchmarkPerPacket) costs a packet above the TC
// counter (tc), for an IPv4/TCP and an IPv6/TCP frame, closer than
// BenchmarkPerPacket can:
//
//   - This machine's speed drifts by tens of percent within seconds (its
//     neighbors): each iteration runs every program, on one CPU, over
//     learnPackets packets in one BPF_PROG_TEST_RUN, a few milliseconds
//     each, one after the other, in an order that rotates, and the figures
//     are the medians of the iterations' differences.
//   - Two copies of the same program differ by up to a nanosecond a
//     packet, as their code and maps happen to lie in memory, and a load
//     puts them where the previous one did: each figure is the mean of
//     learnCopies copies, each loaded with maps of its own.
//
// Three groups of copies run: tc, tc-learn, and more of tc, the control,
// which tells what difference the method sees between two groups of the
// same program. It reports learned-ns/packet (tc-learn less tc),
// control-ns/packet (the control less tc), and tc-ns/packet. Issue 17
// ships learning only if it costs under 1 ns. Run it with many iterations
// (-benchtime=500x).
func BenchmarkLearnCost(b *testing.B) {
	const (
		learnPackets = 1 << 16
		learnCopies  = 3
	)
	onOneCPU(b)
	// progs holds the copies group after group: tc, tc-learn, control.
	var progs []*ebpf.Program
	for group := range 3 {
		for range learnCopies {
			if group == 1 {
				l, err := baseline.LoadLearner(loIndex)
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { l.Close() })
				progs = append(progs, l.Prog)
				continue
			}
			d := loadDatapath(b, bpf.Options{Capacity: 4})
			progs = append(progs, d.ProgramFor(bpf.LayerEthernet, false, bpf.Receive))
		}
	}
	tcp := x.TCP(6)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"ipv4-tcp", x.Cat(x.Eth(x.EtherIPv4), x.IPv4(x.ProtoTCP, nil, len(tcp)), tcp)},
		{"ipv6-tcp", x.Cat(x.Eth(x.EtherIPv6), x.IPv6(x.ProtoTCP, len(tcp)), tcp)},
	} {
		b.Run("frame="+f.name, func(b *testing.B) {
			// perPacket times one run of progs[i] from user space,
			// from its last start when a signal restarted it.
			perPacket := func(i int) float64 {
				var start time.Time
				o := &ebpf.RunOptions{Data: f.data, Repeat: learnPackets, Reset: func() { start = time.Now() }} //nolint:staticcheck // timed from user space: a run restarted by a signal restarts the clock
				start = time.Now()
				if _, err := progs[i].Run(o); err != nil {
					b.Fatal(err)
				}
				return float64(time.Since(start).Nanoseconds()) / learnPackets
			}
			var learned, controls, plain []float64
			i := 0
			for b.Loop() {
				var mean [3]float64
				for k := range progs {
					j := (i + k) % len(progs)
					mean[j/learnCopies] += perPacket(j) / learnCopies
				}
				i++
				plain = append(plain, mean[0])
				learned = append(learned, mean[1]-mean[0])
				controls = append(controls, mean[2]-mean[0])
			}
			b.ReportMetric(0, "ns/op") // an iteration runs every copy: no figure of its own
			b.ReportMetric(median(learned), "learned-ns/packet")
			b.ReportMetric(median(controls), "control-ns/packet")
			b.ReportMetric(median(plain), "tc-ns/packet")
		})
	}
}

// onOneCPU keeps the benchmark's goroutine on one thread, and that on one
// CPU, the first it may run on, until the benchmark ends: programs compared
// side by side run on the same CPU.
func onOneCPU(b *testing.B) {
	runtime.LockOSThread()
	var all, one unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		b.Fatal(err)
	}
	for cpu := range 1024 {
		if all.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := unix.SchedSetaffinity(0, &all); err != nil {
			b.Error(err)
		}
		runtime.UnlockOSThread()
	})
}

func plain(frame []byte, repeat uint32) *ebpf.RunOptions {
	return &ebpf.RunOptions{Data: frame, Repeat: repeat}
}

// BenchmarkObserverEffect streams TCP over two veth pairs, one counted
// and one not, one after the other, out of the host end (dir=out) or into
// it (dir=in): the counter on the counted pair's host end, both
// directions, receive on the hook the mode gives a veth (auto: TC; native
// and generic: XDP, for comparison). Each iteration streams observerBytes
// over each pair, the first pair alternating, and the pairs swap roles
// every iteration: neither a pair nor the order favors a side. This
// machine's speed drifts by tens of percent within a second (its
// neighbors), so streams are short and adjacent, and the figure is the
// median of the iterations' ratios. It reports counted/uncounted, the
// counted stream's throughput as a fraction of the uncounted one's, and
// both throughputs' medians. Run it with many iterations
// (-benchtime=100x).
func BenchmarkObserverEffect(b *testing.B) {
	x.Privileged(b)
	const observerBytes = 32 << 20
	for _, mode := range []bpf.Mode{bpf.ModeAuto, bpf.ModeNative, bpf.ModeGeneric} {
		for _, out := range []bool{false, true} {
			dir := "in"
			if out {
				dir = "out"
			}
			b.Run("mode="+mode.String()+"/dir="+dir, func(b *testing.B) {
				d, err := bpf.Load(bpf.Options{Capacity: 4})
				if err != nil {
					b.Fatal(err)
				}
				defer d.Close()
				var pairs [2]*x.Pair
				var ifcs [2]*bpf.Interface
				for i := range pairs {
					pairs[i] = x.NewPair(b)
					pairs[i].Addresses(b)
					if ifcs[i], err = d.Open(pairs[i].Host); err != nil {
						b.Fatal(err)
					}
				}
				defer func() {
					for _, ifc := range ifcs {
						ifc.Release()
					}
				}()
				// count makes pair i the counted one, and the other not:
				// it detaches the other, and opens it again, unattached.
				count := func(i int) {
					if err := ifcs[1-i].Detach(); err != nil {
						b.Fatal(err)
					}
					ifcs[1-i].Release()
					if ifcs[1-i], err = d.Open(pairs[1-i].Host); err != nil {
						b.Fatal(err)
					}
					for _, dir := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
						if _, err := ifcs[i].Attach(dir, mode); err != nil {
							b.Fatal(err)
						}
					}
				}
				var ratios, uncounted, counted []float64
				i := 0
				for b.Loop() {
					c := i % 2 // the counted pair
					b.StopTimer()
					count(c)
					b.StartTimer()
					var took [2]time.Duration
					for k := range 2 {
						j := (i/2 + k) % 2 // which pair streams first
						took[j] = pairs[j].Stream(b, observerBytes, out).Took
					}
					i++
					ratios = append(ratios, took[1-c].Seconds()/took[c].Seconds())
					uncounted = append(uncounted, observerBytes/took[1-c].Seconds()/1e6)
					counted = append(counted, observerBytes/took[c].Seconds()/1e6)
				}
				b.ReportMetric(median(ratios), "counted/uncounted")
				b.ReportMetric(median(uncounted), "uncounted-MB/s")
				b.ReportMetric(median(counted), "counted-MB/s")
			})
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkClsactAttached asks every interface of 512, counted both ways
// through clsact filters, whether it is still attached, as the receiver
// does for each idle interface at every collection. One op is one round
// of the 512:
//
//	notified  Attached with the TC notifications: nothing changed, so
//	          no dump (the case of every collection but those right after
//	          a change)
//	dump      what a change costs, and what asking without notifications
//	          would cost every time: the dump of both hooks' filters
func BenchmarkClsactAttached(b *testing.B) {
	const n = 512
	x.Privileged(b)
	d, err := bpf.Load(bpf.Options{Capacity: n, TCLegacy: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	ps := x.NewPairs(b, n)
	ifcs := make([]*bpf.Interface, n)
	for i := range ifcs {
		ifc, err := d.Open(ps.Prefix + strconv.Itoa(i))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { ifc.Release() })
		for _, dir := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
			if _, err := ifc.Attach(dir, bpf.ModeTC); err != nil {
				b.Fatal(err)
			}
		}
		ifcs[i] = ifc
	}
	b.Run("notified", func(b *testing.B) {
		for b.Loop() {
			for _, ifc := range ifcs {
				if ok, err := ifc.Attached(); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		}
	})
	b.Run("dump", func(b *testing.B) {
		nl, err := netlink.NewHandle(unix.NETLINK_ROUTE) // one socket, as the datapath's
		if err != nil {
			b.Fatal(err)
		}
		defer nl.Close()
		for b.Loop() {
			for _, ifc := range ifcs {
				for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
					if fs, err := nl.FilterList(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: ifc.Ifindex()}}, parent); err != nil || len(fs) != 1 {
						b.Fatal(fs, err)
					}
				}
			}
		}
	})
}
