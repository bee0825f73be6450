//go:build linux

package bpf_test

import (
	"os"
	"strconv"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// The TC tests force the clsact path that kernels before 6.6 take: filters
// of the clsact qdisc, which outlive the process, unlike TCX links.

func legacyDatapath(t *testing.T) *bpf.Datapath {
	t.Helper()
	return newDatapath(t, bpf.Options{TCLegacy: true})
}

// ourFilters returns the filters that a datapath of process pid added.
func ourFilters(t *testing.T, iface string, pid int) []*netlink.BpfFilter {
	t.Helper()
	var out []*netlink.BpfFilter
	for _, f := range xdptest.ClsactFilters(t, iface) {
		if f.Name == "otelcol-xdp/"+strconv.Itoa(pid) {
			out = append(out, f)
		}
	}
	return out
}

func TestClsactCountsBothDirections(t *testing.T) {
	d := legacyDatapath(t)
	p := xdptest.NewPair(t)
	ifc := open(t, d, p.Host)
	for _, dir := range []bpf.Direction{bpf.Receive, bpf.Transmit} {
		if a := attach(t, ifc, dir, bpf.ModeAuto); a.Hook != bpf.HookTCLegacy {
			t.Errorf("%s at %v, want tc-clsact", dir, a.Hook)
		}
	}
	if n := len(ourFilters(t, p.Host, os.Getpid())); n != 2 {
		t.Fatalf("%d filters of ours, want one per direction", n)
	}
	var want bpf.Counts
	trafficBothWays(t, p, 2, &want)
	waitFor(t, d, ifc, want)

	if err := ifc.Detach(); err != nil {
		t.Fatal(err)
	}
	if fs := xdptest.ClsactFilters(t, p.Host); len(fs) != 0 {
		t.Errorf("filters left after Detach: %v", fs)
	}
	if xdptest.HasClsact(t, p.Host) {
		t.Error("the clsact qdisc the datapath added is left after Detach")
	}
}

// tcPass loads a foreign TC program: someone else's.
func tcPass(t *testing.T) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "foreign_tc",
		Type:         ebpf.SchedCLS,
		License:      "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

// TestClsactLeavesOthersAlone counts beside someone else's clsact qdisc
// and filter: the counter's filter goes ahead of it, so it sees every
// packet first, and Detach removes the counter's filter only.
func TestClsactLeavesOthersAlone(t *testing.T) {
	d := legacyDatapath(t)
	p := xdptest.NewPair(t)
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: p.HostIndex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscAdd(q); err != nil {
		t.Fatal(err)
	}
	foreign := &netlink.BpfFilter{
		FilterAttrs:  netlink.FilterAttrs{LinkIndex: p.HostIndex, Parent: netlink.HANDLE_MIN_INGRESS, Priority: 100, Protocol: unix.ETH_P_ALL},
		Fd:           tcPass(t).FD(),
		Name:         "someone-else",
		DirectAction: true,
	}
	if err := netlink.FilterAdd(foreign); err != nil {
		t.Fatal(err)
	}

	ifc := open(t, d, p.Host)
	attach(t, ifc, bpf.Receive, bpf.ModeTC)
	ours := ourFilters(t, p.Host, os.Getpid())
	if len(ours) != 1 || ours[0].Priority >= 100 {
		t.Fatalf("our filters %v: want one, ahead of priority 100", ours)
	}
	var want bpf.Counts
	for _, f := range xdptest.Frames() {
		p.Inject(t, f.Data)
		add(&want, bpf.Receive, f)
	}
	waitFor(t, d, ifc, want)

	if err := ifc.Detach(); err != nil {
		t.Fatal(err)
	}
	left := xdptest.ClsactFilters(t, p.Host)
	if len(left) != 1 || left[0].Name != "someone-else" {
		t.Errorf("after Detach: filters %v, want someone-else's alone", left)
	}
	if !xdptest.HasClsact(t, p.Host) {
		t.Error("Detach removed someone else's clsact qdisc")
	}
}

// TestClsactRestartAfterSIGKILL kills a process that counts an interface
// through clsact filters: they stay, counting into the dead process's
// map. The next datapath that counts on the interface removes them, and
// them only, and counts exactly.
func TestClsactRestartAfterSIGKILL(t *testing.T) {
	p := xdptest.NewPair(t)
	other := xdptest.NewPair(t) // stale filters anywhere in the namespace go
	helper := startHelper(t, "TestHelperProcessCounts", p.Host, "tc", "XDP_HELPER_LEGACY=1")
	dead := helper.cmd.Process.Pid
	helper2 := startHelper(t, "TestHelperProcessCounts", other.Host, "tc", "XDP_HELPER_LEGACY=1")
	if n := len(ourFilters(t, p.Host, dead)); n != 2 {
		t.Fatalf("the helper process added %d filters, want 2", n)
	}
	helper.kill(t)
	helper2.kill(t)
	if n := len(ourFilters(t, p.Host, dead)); n != 2 {
		t.Fatalf("%d filters of the killed process are left, want both: clsact filters outlive their process", n)
	}
	// A live process's filters are not stale.
	livePair := xdptest.NewPair(t)
	live := startHelper(t, "TestHelperProcessCounts", livePair.Host, "tc", "XDP_HELPER_LEGACY=1")

	d := legacyDatapath(t)
	ifc := open(t, d, p.Host)
	attachBoth(t, bpf.ModeTC, ifc)
	if n := len(ourFilters(t, p.Host, dead)); n != 0 {
		t.Errorf("%d stale filters left on %q", n, p.Host)
	}
	if fs := xdptest.ClsactFilters(t, other.Host); len(fs) != 0 {
		t.Errorf("stale filters left on %q, which the new datapath does not count: %v", other.Host, fs)
	}
	if n := len(ourFilters(t, p.Host, os.Getpid())); n != 2 {
		t.Errorf("%d filters of ours, want 2", n)
	}
	if n := len(ourFilters(t, livePair.Host, live.cmd.Process.Pid)); n != 2 {
		t.Errorf("%d filters of a live process are left, want its 2", n)
	}
	var want bpf.Counts
	trafficBothWays(t, p, 2, &want)
	waitFor(t, d, ifc, want)
}
