//go:build linux

package bpf_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	x "github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// The programs' verdicts: XDP_PASS, and TC_ACT_UNSPEC (the next program
// decides) as BPF_PROG_TEST_RUN returns it.
const (
	xdpPass     = 2
	tcActUnspec = 0xffffffff
)

// loIndex is lo's ifindex: test runs see their packets on lo, XDP's and
// TC's alike.
const loIndex = 1

// runner runs frames through one program of a datapath with
// BPF_PROG_TEST_RUN, attached to nothing: lo has slot 1, so that the
// program counts there, in dir.
type runner struct {
	name  string
	d     *bpf.Datapath
	prog  *ebpf.Program
	xdp   bool
	frags bool // takes multi-buffer frames
	dir   bpf.Direction
	layer bpf.Layer
	slot  uint32
}

// runners returns a runner of every program and variant: XDP frags-aware
// (Linux 5.18+) and without frags (older kernels), TC ingress and egress;
// first for Ethernet devices, then for devices without a link layer
// (layer IP), which take IP packets (runner.frame). All classify alike.
func runners(tb testing.TB) []*runner {
	tb.Helper()
	frags, noFrags := loadDatapath(tb, bpf.Options{Capacity: 4}), loadDatapath(tb, bpf.WithoutFrags(bpf.Options{Capacity: 4}))
	var rs []*runner
	for _, l := range []bpf.Layer{bpf.LayerEthernet, bpf.LayerIP} {
		suffix := ""
		if l == bpf.LayerIP {
			suffix = "-l3"
		}
		rs = append(rs,
			newRunner(tb, "xdp"+suffix, frags, true, bpf.Receive, l),
			newRunner(tb, "xdp-without-frags"+suffix, noFrags, true, bpf.Receive, l),
			newRunner(tb, "tc-ingress"+suffix, frags, false, bpf.Receive, l),
			newRunner(tb, "tc-egress"+suffix, frags, false, bpf.Transmit, l))
	}
	return rs
}

// frame returns what the runner's program takes for the Ethernet frame f,
// which counts as want: f itself on Ethernet; on a device without a link
// layer the IP packet f carries, when f is an untagged IPv4 or IPv6 frame
// whose IP version is its ethertype's, and false for every other frame.
//
// BPF_PROG_TEST_RUN takes the protocol of a TC program's packet from its
// bytes 12 and 13, as of an Ethernet header (eth_type_trans): for an IP
// packet, from its source address (198.18, IPv4) or from within it (zero,
// IPv6), so that it never takes an IP packet for IP. The TC programs for
// devices without a link layer then count the packet as that protocol
// says (testRunClass); on a tun, where skb->protocol is the packet's, the
// tun tests count every class (TestCountsEveryClassOnATun).
func (r *runner) frame(f []byte, want bpf.Class) ([]byte, bpf.Class, bool) {
	if r.layer == bpf.LayerEthernet {
		return f, want, true
	}
	if len(f) <= 14 {
		return nil, want, false
	}
	p, et := f[14:], binary.BigEndian.Uint16(f[12:14])
	if (et != x.EtherIPv4 || p[0]>>4 != 4) && (et != x.EtherIPv6 || p[0]>>4 != 6) {
		return nil, want, false
	}
	if r.xdp {
		return p, want, true
	}
	return p, testRunClass(p, want), true
}

// testRunProtocol is the protocol BPF_PROG_TEST_RUN gives a TC program's
// packet: bytes 12 and 13 as eth_type_trans reads them, an ethertype from
// 0x0600 on, and otherwise a length of 802.3 (ETH_P_802_3 or ETH_P_802_2).
func testRunProtocol(p []byte) uint16 {
	switch et := binary.BigEndian.Uint16(p[12:14]); {
	case et >= 0x0600:
		return et
	case len(p) >= 16 && p[14] == 0xff && p[15] == 0xff:
		return 0x0001
	default:
		return 0x0004
	}
}

// testRunClass is the class in which a TC program for devices without a
// link layer counts the IP packet p in a test run, where its protocol is
// testRunProtocol's: want, the class of p's IP version, when the two
// agree; for an IP protocol that its header does not match, the protocol's
// with no transport; otherwise ARP or other, as for Ethernet.
func testRunClass(p []byte, want bpf.Class) bpf.Class {
	switch testRunProtocol(p) {
	case x.EtherIPv4:
		if want.Network == bpf.IPv4 {
			return want
		}
		return ipv4None
	case x.EtherIPv6:
		if want.Network == bpf.IPv6 {
			return want
		}
		return ipv6None
	case x.EtherARP:
		return cls(bpf.ARP, bpf.TransportNone)
	default:
		return other
	}
}

// loadDatapath loads a datapath that is closed when the test ends, with lo
// opened, so that test runs count in its slot.
func loadDatapath(tb testing.TB, opts bpf.Options) *bpf.Datapath {
	tb.Helper()
	x.Privileged(tb)
	d, err := bpf.Load(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	lo, err := d.Open("lo")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { lo.Release() })
	if lo.Slot() != 1 {
		tb.Fatalf("lo got slot %d, want 1, the first", lo.Slot())
	}
	return d
}

func newRunner(tb testing.TB, name string, d *bpf.Datapath, xdp bool, dir bpf.Direction, l bpf.Layer) *runner {
	tb.Helper()
	return &runner{name: name, d: d, prog: d.ProgramFor(l, xdp, dir), xdp: xdp, frags: !xdp || d.Frags(), dir: dir, layer: l, slot: 1}
}

func (r *runner) options(frame []byte, repeat uint32) *ebpf.RunOptions {
	return &ebpf.RunOptions{Data: frame, Repeat: repeat}
}

func (r *runner) totals(tb testing.TB) x.Totals {
	tb.Helper()
	var s bpf.Snapshot
	if err := r.d.Read(&s); err != nil {
		tb.Fatal(err)
	}
	return s.Slot(r.slot).Dir[r.dir]
}

// runFrame runs frame through the program once and returns what that run
// added to its direction's counters, or false when the test run refused
// the frame, as it may (mayRefuse).
func (r *runner) runFrame(tb testing.TB, frame []byte) (x.Totals, bool) {
	tb.Helper()
	before := r.totals(tb)
	ret, err := r.prog.Run(r.options(frame, 1))
	if errors.Is(err, unix.EINVAL) && r.mayRefuse(frame) {
		return x.Totals{}, false
	}
	r.check(tb, len(frame), ret, err)
	return diff(r.totals(tb), before), true
}

// mayRefuse tells whether BPF_PROG_TEST_RUN may refuse the frame before
// the program runs: a frame shorter than an Ethernet header, which only a
// device without a link layer carries; for skb programs, a frame that does
// not fit a page, or an IPv4 or IPv6 ethertype followed by a short header
// (the kernel reads addresses from it). On a real interface such frames do
// reach the programs, and the veth and tun tests count them there.
func (r *runner) mayRefuse(frame []byte) bool {
	if len(frame) < 14 {
		return r.layer == bpf.LayerIP
	}
	if r.xdp {
		return false
	}
	if len(frame) > maxLinear {
		return true
	}
	switch binary.BigEndian.Uint16(frame[12:14]) {
	case 0x0800:
		return len(frame) < 14+20
	case 0x86dd:
		return len(frame) < 14+40
	}
	return false
}

func (r *runner) run(tb testing.TB, o *ebpf.RunOptions) {
	tb.Helper()
	ret, err := r.prog.Run(o)
	r.check(tb, len(o.Data), ret, err)
}

func (r *runner) check(tb testing.TB, n int, ret uint32, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("%s: running a %d-byte frame: %v", r.name, n, err)
	}
	if want := r.verdict(); ret != want {
		tb.Fatalf("%s: a %d-byte frame returned %d, want %d", r.name, n, ret, want)
	}
}

func (r *runner) verdict() uint32 {
	if r.xdp {
		return xdpPass
	}
	return tcActUnspec
}

func diff(after, before x.Totals) x.Totals {
	var d x.Totals
	for i := range d {
		d[i].Packets = after[i].Packets - before[i].Packets
		d[i].Bytes = after[i].Bytes - before[i].Bytes
	}
	return d
}

// requireOnly fails unless d holds exactly one packet of n bytes, in class c.
func requireOnly(tb testing.TB, d x.Totals, c bpf.Class, n int) {
	tb.Helper()
	requireCounted(tb, d, c, 1, uint64(n))
}

// requireCounted fails unless d holds exactly packets packets of bytes
// bytes in all, in class c.
func requireCounted(tb testing.TB, d x.Totals, c bpf.Class, packets, bytes uint64) {
	tb.Helper()
	for i, got := range d {
		want := bpf.Counter{}
		if i == c.Index() {
			want.Packets, want.Bytes = packets, bytes
		}
		if got.Packets != want.Packets || got.Bytes != want.Bytes {
			tb.Errorf("class %v: counted %d packets, %d bytes; want %d, %d (expected class %v)",
				bpf.ClassAt(i), got.Packets, got.Bytes, want.Packets, want.Bytes, c)
		}
	}
}
