//go:build linux

package bpf_test

import (
	"testing"

	"github.com/cilium/ebpf"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestReadsLoseNothing reads the counters over and over while packets keep
// being counted on another CPU, and checks that the deltas between reads add
// up exactly to what was counted: reading never clears, so nothing counted
// between a read and the next is lost or counted twice.
func TestReadsLoseNothing(t *testing.T) {
	inst := loadInstance(t)
	frames := xdptest.Frames()
	// One packet per run: a run with Repeat > 1 that a signal interrupts is
	// restarted whole by cilium/ebpf after some repeats were counted, which
	// would make the number of packets sent unknowable.
	const rounds, repeat = 200000, 1

	// The first read comes before any traffic, so that the deltas account
	// for every packet from zero.
	prev := read(t, inst)
	done := make(chan error, 1)
	go func() {
		for i := range rounds {
			f := frames[i%len(frames)]
			if _, err := inst.Program().Run(&ebpf.RunOptions{Data: f.Data, Repeat: repeat}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()

	var sumPackets, sumBytes uint64
	reads := 0
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		cur := read(t, inst)
		reads++
		for _, d := range diff(cur, prev) {
			sumPackets += d.Packets
			sumBytes += d.Bytes
		}
		prev = cur
	}

	var wantBytes uint64
	for i := range rounds {
		wantBytes += repeat * uint64(len(frames[i%len(frames)].Data))
	}
	last := read(t, inst)
	total := last.Sum()
	if sumPackets != rounds*repeat || total.Packets != rounds*repeat {
		t.Errorf("deltas over %d reads add up to %d packets, kernel total %d; want %d", reads, sumPackets, total.Packets, rounds*repeat)
	}
	if sumBytes != wantBytes || total.Bytes != wantBytes {
		t.Errorf("deltas over %d reads add up to %d bytes, kernel total %d; want %d", reads, sumBytes, total.Bytes, wantBytes)
	}
	if reads < 10 {
		t.Errorf("only %d reads happened while traffic flowed; the test proves little", reads)
	}
	t.Logf("%d reads while %d packets were counted", reads, rounds*repeat)
}
