//go:build linux

package bpf_test

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestReadsLoseNothing reads the counters over and over while packets keep
// being counted on another CPU, and checks that the deltas between reads add
// up exactly to what was counted: reading never clears, so nothing counted
// between a read and the next is lost or counted twice.
func TestReadsLoseNothing(t *testing.T) {
	r := runners(t)[2] // TC ingress: the hook most interfaces get
	var frames []xdptest.Frame
	for _, f := range xdptest.Frames() {
		if !r.mayRefuse(f.Data) {
			frames = append(frames, f)
		}
	}
	// One packet per run: a run with Repeat > 1 that a signal interrupts is
	// restarted whole by cilium/ebpf after some repeats were counted, which
	// would make the number of packets sent unknowable.
	const rounds = 200000

	// The first read comes before any traffic, so that the deltas account
	// for every packet from zero.
	prev := r.totals(t)
	done := make(chan error, 1)
	go func() {
		for i := range rounds {
			f := frames[i%len(frames)]
			if _, err := r.prog.Run(r.options(f.Data, 1)); err != nil {
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
		cur := r.totals(t)
		reads++
		for _, d := range diff(cur, prev) {
			sumPackets += d.Packets
			sumBytes += d.Bytes
		}
		prev = cur
	}

	var wantBytes uint64
	for i := range rounds {
		wantBytes += uint64(len(frames[i%len(frames)].Data))
	}
	last := r.totals(t)
	var total bpf.Counter
	for _, c := range last {
		total.Packets += c.Packets
		total.Bytes += c.Bytes
	}
	if sumPackets != rounds || total.Packets != rounds {
		t.Errorf("deltas over %d reads add up to %d packets, kernel total %d; want %d", reads, sumPackets, total.Packets, rounds)
	}
	if sumBytes != wantBytes || total.Bytes != wantBytes {
		t.Errorf("deltas over %d reads add up to %d bytes, kernel total %d; want %d", reads, sumBytes, total.Bytes, wantBytes)
	}
	if reads < 10 {
		t.Errorf("only %d reads happened while traffic flowed; the test proves little", reads)
	}
	t.Logf("%d reads while %d packets were counted", reads, rounds)
}

// TestReadSlotBySlot reads as kernels without batch lookups (before 5.6)
// do: the same counts.
func TestReadSlotBySlot(t *testing.T) {
	r := runners(t)[0]
	for _, f := range xdptest.Frames() {
		r.run(t, r.options(f.Data, 1))
	}
	var batch, each bpf.Snapshot
	if err := r.d.Read(&batch); err != nil {
		t.Fatal(err)
	}
	if err := r.d.ReadSlotBySlot(&each); err != nil {
		t.Fatal(err)
	}
	if *batch.Slot(r.slot) != *each.Slot(r.slot) || batch.Slot(r.slot).Dir[bpf.Receive] == (xdptest.Totals{}) {
		t.Errorf("batch read %v, slot by slot %v", batch.Slot(r.slot), each.Slot(r.slot))
	}
}

// BenchmarkRead measures reading every interface's counters: a batch
// lookup per 128 slots, summed over CPUs. Its cost follows the bytes
// copied, slots x possible CPUs x 640.
func BenchmarkRead(b *testing.B) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 16, 128, 512} {
		b.Run(fmt.Sprintf("interfaces=%d/cpus=%d", n, cpus), func(b *testing.B) {
			d := loadDatapath(b, bpf.Options{Capacity: n})
			d.SetSlotsInUse(n) // reads go up to the highest slot handed out
			var s bpf.Snapshot
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Read(&s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
