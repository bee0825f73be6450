//go:build linux

package bpf_test

import (
	"errors"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

const xdpPass = 2

// loadInstance loads a counter that is attached nowhere: frames reach it
// only through BPF_PROG_TEST_RUN.
func loadInstance(tb testing.TB) *bpf.Instance {
	tb.Helper()
	return loadWith(tb, bpf.Load)
}

func loadWith(tb testing.TB, load func() (*bpf.Instance, error)) *bpf.Instance {
	tb.Helper()
	xdptest.Privileged(tb)
	inst, err := load()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { inst.Close() })
	return inst
}

// variants are the two ways the counter loads: frags-aware (Linux 5.18+)
// and without frags (older kernels). Both classify alike.
var variants = []struct {
	name  string
	load  func() (*bpf.Instance, error)
	frags bool
}{
	{"frags", bpf.Load, true},
	{"without-frags", bpf.LoadWithoutFrags, false},
}

// forEachVariant runs test against a counter of each variant.
func forEachVariant(t *testing.T, test func(t *testing.T, inst *bpf.Instance, frags bool)) {
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { test(t, loadWith(t, v.load), v.frags) })
	}
}

func read(tb testing.TB, inst *bpf.Instance) bpf.Totals {
	tb.Helper()
	var t bpf.Totals
	if err := inst.Read(&t); err != nil {
		tb.Fatal(err)
	}
	return t
}

// runFrame runs frame through the program once and returns what that run
// added to the counters.
func runFrame(tb testing.TB, inst *bpf.Instance, frame []byte) bpf.Totals {
	tb.Helper()
	before := read(tb, inst)
	ret, err := inst.Program().Run(&ebpf.RunOptions{Data: frame, Repeat: 1})
	if err != nil {
		tb.Fatalf("running a %d-byte frame: %v", len(frame), err)
	}
	if ret != xdpPass {
		tb.Fatalf("a %d-byte frame returned %d, want XDP_PASS", len(frame), ret)
	}
	return diff(read(tb, inst), before)
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
	for i, got := range d {
		want := bpf.Counter{}
		if i == c.Index() {
			want.Packets, want.Bytes = 1, uint64(n)
		}
		if got.Packets != want.Packets || got.Bytes != want.Bytes {
			tb.Errorf("class %v: counted %d packets, %d bytes; want %d, %d (expected class %v)",
				bpf.ClassAt(i), got.Packets, got.Bytes, want.Packets, want.Bytes, c)
		}
	}
}

func isEnd(err error) bool { return errors.Is(err, ebpf.ErrKeyNotExist) }
