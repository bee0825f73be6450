//go:build linux

package bpf_test

import (
	"testing"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// BPF_PROG_TEST_RUN takes XDP frames from an Ethernet header long up to what
// a frags-aware program can be given (MAX_SKB_FRAGS pages and the head).
const minFrame, maxFrame = 14, 60000

// maxLinear is the most a program without frags can be given: a page less
// XDP's headroom and the shared info at its end.
const maxLinear = 3500

// FuzzCount feeds arbitrary frames to the counter: every run must pass the
// frame, succeed, and count exactly one packet of exactly the frame's length
// in exactly one class. The seed corpus (testdata/fuzz/FuzzCount) holds a
// frame of every class and frames cut at header boundaries.
//
// The other programs and variants must count every frame in the same class
// as frags-aware XDP: TC ingress and egress, and XDP without frags (kernels
// before 5.18) for frames that fit one buffer.
func FuzzCount(f *testing.F) {
	rs := runners(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < minFrame || len(frame) > maxFrame {
			return // the kernel refuses these before the program runs
		}
		got, _ := countOnce(t, rs[0], frame)
		for _, r := range rs[1:] {
			if !r.frags && len(frame) > maxLinear {
				continue
			}
			if other, ok := countOnce(t, r, frame); ok && other != got {
				t.Errorf("counted as %v by %s, as %v by %s", got, rs[0].name, other, r.name)
			}
		}
	})
}

// countOnce runs frame once and returns the one class it was counted in,
// or false when the test run refuses the frame.
func countOnce(t *testing.T, r *runner, frame []byte) (bpf.Class, bool) {
	t.Helper()
	var class bpf.Class
	classes := 0
	counted, ok := r.runFrame(t, frame)
	if !ok {
		return class, false
	}
	for i, d := range counted {
		if d.Packets == 0 && d.Bytes == 0 {
			continue
		}
		classes++
		class = bpf.ClassAt(i)
		if d.Packets != 1 || d.Bytes != uint64(len(frame)) {
			t.Errorf("%s: counted %d packets, %d bytes; want 1, %d", r.name, d.Packets, d.Bytes, len(frame))
		}
	}
	if classes != 1 {
		t.Fatalf("%s: counted in %d classes, want exactly 1", r.name, classes)
	}
	return class, true
}
