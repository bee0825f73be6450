//go:build linux

package bpf_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestLoadRefusesCapacity: Load refuses a capacity of no interface, and
// one whose slots the slot index's 24 bits could not number, before it
// asks the kernel for anything.
func TestLoadRefusesCapacity(t *testing.T) {
	for _, c := range []int{0, -1, 1 << 24, 1 << 30} {
		d, err := bpf.Load(bpf.Options{Capacity: c})
		if want := fmt.Sprintf("datapath capacity %d: want 1 to 16777215 interfaces", c); err == nil || err.Error() != want {
			t.Errorf("capacity %d: got %v, want %q", c, err, want)
		}
		if d != nil {
			d.Close()
			t.Errorf("capacity %d: Load returned a datapath with its error", c)
		}
	}
}

// TestLoadSizesTheCounters: the counters map has a slot per interface and
// slot 0 for packets that meet no slot, each slot the 640 bytes of Counts
// per CPU: the kernel memory that Options.Capacity documents, which the
// Helm chart sizes from max_interfaces.
func TestLoadSizesTheCounters(t *testing.T) {
	for _, capacity := range []int{1, 5} {
		d := newDatapath(t, bpf.Options{Capacity: capacity})
		if d.Capacity() != capacity {
			t.Errorf("Capacity() = %d, want %d", d.Capacity(), capacity)
		}
		id, err := d.CountersMapID()
		if err != nil {
			t.Fatal(err)
		}
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			t.Fatal(err)
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if info.Type != ebpf.PerCPUArray || info.MaxEntries != uint32(capacity)+1 || info.ValueSize != 640 {
			t.Errorf("capacity %d: counters map is a %v of %d entries of %d bytes; want a PerCPUArray of %d entries of 640 bytes",
				capacity, info.Type, info.MaxEntries, info.ValueSize, capacity+1)
		}
	}
}

// TestLoadFrags: the XDP program is frags-aware where the kernel has
// multi-buffer XDP (5.18+), and not when loaded as for older kernels.
func TestLoadFrags(t *testing.T) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		t.Fatal(err)
	}
	want := major > 5 || major == 5 && minor >= 18
	if got := newDatapath(t, bpf.Options{Capacity: 1}).Frags(); got != want {
		t.Errorf("on Linux %d.%d, Frags() = %v, want %v", major, minor, got, want)
	}
	if newDatapath(t, bpf.WithoutFrags(bpf.Options{Capacity: 1})).Frags() {
		t.Error("loaded as for kernels before 5.18, Frags() = true")
	}
}

// TestProgramOfEachHook: Program returns xdp_count for XDP in either
// direction, and the TC program of the direction otherwise.
func TestProgramOfEachHook(t *testing.T) {
	d := newDatapath(t, bpf.Options{Capacity: 1})
	for _, tc := range []struct {
		xdp  bool
		dir  bpf.Direction
		typ  ebpf.ProgramType
		name string
	}{
		{true, bpf.Receive, ebpf.XDP, "xdp_count"},
		{true, bpf.Transmit, ebpf.XDP, "xdp_count"},
		{false, bpf.Receive, ebpf.SchedCLS, "tc_count_rx"},
		{false, bpf.Transmit, ebpf.SchedCLS, "tc_count_tx"},
	} {
		p := d.Program(tc.xdp, tc.dir)
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		if p.Type() != tc.typ || info.Name != tc.name {
			t.Errorf("Program(%v, %v) = %v %q, want %v %q", tc.xdp, tc.dir, p.Type(), info.Name, tc.typ, tc.name)
		}
	}
}

// TestCloseFreesEverything: Close frees the programs and maps, so that
// the kernel drops the counters map, and a second Close is harmless.
func TestCloseFreesEverything(t *testing.T) {
	xdptest.Privileged(t)
	d, err := bpf.Load(bpf.Options{Capacity: 1})
	if err != nil {
		t.Fatal(err)
	}
	id, err := d.CountersMapID()
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if fd := d.Program(true, bpf.Receive).FD(); fd != -1 {
		t.Errorf("xdp_count still has descriptor %d after Close", fd)
	}
	// The kernel frees a map after a grace period once its last holder
	// is gone.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		m, err := ebpf.NewMapFromID(id)
		if errors.Is(err, unix.ENOENT) {
			return
		}
		if err == nil {
			m.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("counters map %d still there 5 s after Close (%v)", id, err)
		}
	}
}
