//go:build linux

package bpf_test

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
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
	slot  uint32
}

// runners returns a runner of every program and variant: XDP frags-aware
// (Linux 5.18+) and without frags (older kernels), TC ingress and egress.
// All classify alike.
func runners(tb testing.TB) []*runner {
	tb.Helper()
	frags, noFrags := loadDatapath(tb, bpf.Options{Capacity: 4}), loadDatapath(tb, bpf.WithoutFrags(bpf.Options{Capacity: 4}))
	return []*runner{
		newRunner(tb, "xdp", frags, true, bpf.Receive),
		newRunner(tb, "xdp-without-frags", noFrags, true, bpf.Receive),
		newRunner(tb, "tc-ingress", frags, false, bpf.Receive),
		newRunner(tb, "tc-egress", frags, false, bpf.Transmit),
	}
}

// loadDatapath loads a datapath that is closed when the test ends, with lo
// opened, so that test runs count in its slot.
func loadDatapath(tb testing.TB, opts bpf.Options) *bpf.Datapath {
	tb.Helper()
	xdptest.Privileged(tb)
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

func newRunner(tb testing.TB, name string, d *bpf.Datapath, xdp bool, dir bpf.Direction) *runner {
	tb.Helper()
	return &runner{name: name, d: d, prog: d.Program(xdp, dir), xdp: xdp, frags: !xdp || d.Frags(), dir: dir, slot: 1}
}

func (r *runner) options(frame []byte, repeat uint32) *ebpf.RunOptions {
	return &ebpf.RunOptions{Data: frame, Repeat: repeat}
}

func (r *runner) totals(tb testing.TB) bpf.Totals {
	tb.Helper()
	var s bpf.Snapshot
	if err := r.d.Read(&s); err != nil {
		tb.Fatal(err)
	}
	return bpf.Totals(s.Slot(r.slot).Dir[r.dir])
}

// runFrame runs frame through the program once and returns what that run
// added to its direction's counters, or false when the test run refused
// the frame, as it may (mayRefuse).
func (r *runner) runFrame(tb testing.TB, frame []byte) (bpf.Totals, bool) {
	tb.Helper()
	before := r.totals(tb)
	ret, err := r.prog.Run(r.options(frame, 1))
	if errors.Is(err, unix.EINVAL) && r.mayRefuse(frame) {
		return bpf.Totals{}, false
	}
	r.check(tb, len(frame), ret, err)
	return diff(r.totals(tb), before), true
}

// mayRefuse tells whether BPF_PROG_TEST_RUN may refuse the frame before
// the program runs: for skb programs, a frame that does not fit a page, or
// an IPv4 or IPv6 ethertype followed by a short header (the kernel reads
// addresses from it). On a real interface such frames do reach TC, and
// the veth tests count them there.
func (r *runner) mayRefuse(frame []byte) bool {
	if r.xdp || len(frame) < 14 {
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

func diff(after, before bpf.Totals) bpf.Totals {
	var d bpf.Totals
	for i := range d {
		d[i].Packets = after[i].Packets - before[i].Packets
		d[i].Bytes = after[i].Bytes - before[i].Bytes
	}
	return d
}

// requireOnly fails unless d holds exactly one packet of n bytes, in class c.
func requireOnly(tb testing.TB, d bpf.Totals, c bpf.Class, n int) {
	tb.Helper()
	requireCounted(tb, d, c, 1, uint64(n))
}

// requireCounted fails unless d holds exactly packets packets of bytes
// bytes in all, in class c.
func requireCounted(tb testing.TB, d bpf.Totals, c bpf.Class, packets, bytes uint64) {
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
