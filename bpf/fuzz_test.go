//go:build linux

package bpf_test

import (
	"testing"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	x "github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
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
//
// The programs for devices without a link layer take the frame as an IP
// packet, and must count it in the class that frags-aware XDP counts it
// in behind an Ethernet header with the ethertype they take it for: at XDP
// the one of its IP version nibble (or another one), at TC the protocol
// that the test run gives it (testRunProtocol).
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
			want := got
			if r.layer == bpf.LayerIP {
				if len(frame)+14 > maxFrame {
					continue
				}
				want, _ = countOnce(t, rs[0], x.Cat(x.Eth(l3Ethertype(r, frame)), frame))
			}
			if other, ok := countOnce(t, r, frame); ok && other != want {
				t.Errorf("counted as %v by %s, as %v by %s (want %v)", got, rs[0].name, other, r.name, want)
			}
		}
	})
}

// l3Ethertype is the ethertype that the program of r, one for devices
// without a link layer, takes the IP packet p for.
func l3Ethertype(r *runner, p []byte) uint16 {
	if !r.xdp {
		switch et := testRunProtocol(p); et {
		case x.EtherIPv4, x.EtherIPv6, x.EtherARP:
			return et
		}
		return x.EtherLocal
	}
	switch p[0] >> 4 {
	case 4:
		return x.EtherIPv4
	case 6:
		return x.EtherIPv6
	}
	return x.EtherLocal
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
