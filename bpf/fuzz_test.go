package bpf_test

import (
	"testing"

	"github.com/cilium/ebpf"
)

// BPF_PROG_TEST_RUN takes XDP frames from an Ethernet header long up to what
// a frags-aware program can be given (MAX_SKB_FRAGS pages and the head).
const minFrame, maxFrame = 14, 60000

// FuzzCount feeds arbitrary frames to the counter: every run must pass the
// frame, succeed, and count exactly one packet of exactly the frame's length
// in exactly one class. The seed corpus (testdata/fuzz/FuzzCount) holds a
// frame of every class and frames cut at header boundaries.
func FuzzCount(f *testing.F) {
	inst := loadInstance(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		if len(frame) < minFrame || len(frame) > maxFrame {
			return // the kernel refuses these before the program runs
		}
		before := read(t, inst)
		ret, err := inst.Program().Run(&ebpf.RunOptions{Data: frame, Repeat: 1})
		if err != nil {
			t.Fatalf("running a %d-byte frame: %v", len(frame), err)
		}
		if ret != xdpPass {
			t.Fatalf("returned %d, want XDP_PASS", ret)
		}
		classes := 0
		for _, d := range diff(read(t, inst), before) {
			if d.Packets == 0 && d.Bytes == 0 {
				continue
			}
			classes++
			if d.Packets != 1 || d.Bytes != uint64(len(frame)) {
				t.Errorf("counted %d packets, %d bytes; want 1, %d", d.Packets, d.Bytes, len(frame))
			}
		}
		if classes != 1 {
			t.Errorf("counted in %d classes, want exactly 1", classes)
		}
	})
}
