//go:build linux

package bpf_test

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// BPF_PROG_TEST_RUN takes XDP frames from an Ethernet header long up to what
// a frags-aware program can be given (MAX_SKB_FRAGS pages and the head).
const minFrame, maxFrame = 14, 60000

// FuzzCount feeds arbitrary frames to the counter: every run must pass the
// frame, succeed, and count exactly one packet of exactly the frame's length
// in exactly one class. The seed corpus (testdata/fuzz/FuzzCount) holds a
// frame of every class and frames cut at header boundaries.
//
// Frames that fit one buffer also go through the variant loaded without
// frags (kernels before 5.18), which reads headers differently: both must
// count them in the same class.
func FuzzCount(f *testing.F) {
	inst := loadInstance(f)
	noFrags := loadWith(f, bpf.LoadWithoutFrags)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < minFrame || len(frame) > maxFrame {
			return // the kernel refuses these before the program runs
		}
		got := countOnce(t, inst, frame)
		if len(frame) <= maxLinear {
			if other := countOnce(t, noFrags, frame); other != got {
				t.Errorf("counted as %v with frags, as %v without", got, other)
			}
		}
	})
}

// maxLinear is the most a program without frags can be given: a page less
// XDP's headroom and the shared info at its end.
const maxLinear = 3500

// countOnce runs frame once and returns the one class it was counted in.
func countOnce(t *testing.T, inst *bpf.Instance, frame []byte) bpf.Class {
	t.Helper()
	before := read(t, inst)
	ret, err := inst.Program().Run(&ebpf.RunOptions{Data: frame, Repeat: 1})
	if err != nil {
		t.Fatalf("running a %d-byte frame: %v", len(frame), err)
	}
	if ret != xdpPass {
		t.Fatalf("returned %d, want XDP_PASS", ret)
	}
	var class bpf.Class
	classes := 0
	for i, d := range diff(read(t, inst), before) {
		if d.Packets == 0 && d.Bytes == 0 {
			continue
		}
		classes++
		class = bpf.ClassAt(i)
		if d.Packets != 1 || d.Bytes != uint64(len(frame)) {
			t.Errorf("counted %d packets, %d bytes; want 1, %d", d.Packets, d.Bytes, len(frame))
		}
	}
	if classes != 1 {
		t.Fatalf("counted in %d classes, want exactly 1", classes)
	}
	return class
}
