//go:build linux

package bpf_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
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

// ourFilters returns the filters of the interface named name: those of
// one datapath.
func ourFilters(t *testing.T, iface, name string) []*netlink.BpfFilter {
	t.Helper()
	var out []*netlink.BpfFilter
	for _, f := range xdptest.ClsactFilters(t, iface) {
		if f.Name == name {
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
	if n := len(ourFilters(t, p.Host, d.ClsactFilterName())); n != 2 {
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
	ours := ourFilters(t, p.Host, d.ClsactFilterName())
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
	helper2 := startHelper(t, "TestHelperProcessCounts", other.Host, "tc", "XDP_HELPER_LEGACY=1")
	if n := len(ourFilters(t, p.Host, helper.filters)); n != 2 {
		t.Fatalf("the helper process added %d filters, want 2", n)
	}
	helper.kill(t)
	helper2.kill(t)
	if n := len(ourFilters(t, p.Host, helper.filters)); n != 2 {
		t.Fatalf("%d filters of the killed process are left, want both: clsact filters outlive their process", n)
	}
	// A live process's filters are not stale.
	livePair := xdptest.NewPair(t)
	live := startHelper(t, "TestHelperProcessCounts", livePair.Host, "tc", "XDP_HELPER_LEGACY=1")

	d := legacyDatapath(t)
	ifc := open(t, d, p.Host)
	attachBoth(t, bpf.ModeTC, ifc)
	if n := len(ourFilters(t, p.Host, helper.filters)); n != 0 {
		t.Errorf("%d stale filters left on %q", n, p.Host)
	}
	if fs := xdptest.ClsactFilters(t, other.Host); len(fs) != 0 {
		t.Errorf("stale filters left on %q, which the new datapath does not count: %v", other.Host, fs)
	}
	if n := len(ourFilters(t, p.Host, d.ClsactFilterName())); n != 2 {
		t.Errorf("%d filters of ours, want 2", n)
	}
	if n := len(ourFilters(t, livePair.Host, live.filters)); n != 2 {
		t.Errorf("%d filters of a live process are left, want its 2", n)
	}
	var want bpf.Counts
	trafficBothWays(t, p, 2, &want)
	waitFor(t, d, ifc, want)
}

// startIsolatedHelper runs TestHelperProcessCounts, counting on iface
// through clsact filters, as a collector runs under least privilege in a
// container: as nobody (uid 65534) with only CAP_BPF and CAP_NET_ADMIN,
// and as pid 1 of a PID namespace of its own, in the test's network
// namespace.
func startIsolatedHelper(t *testing.T, iface string) *helperProcess {
	t.Helper()
	cmd := exec.Command(unprivilegedCopy(t), "-test.run=^TestHelperProcessCounts$", "-test.count=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWPID,
		Credential:  &syscall.Credential{Uid: 65534, Gid: 65534},
		AmbientCaps: []uintptr{unix.CAP_BPF, unix.CAP_NET_ADMIN},
	}
	h := startHelperCmd(t, cmd, iface, "tc", "XDP_HELPER_LEGACY=1")
	if h.pid != "1" {
		t.Fatalf("the helper is pid %q in its PID namespace, want 1", h.pid)
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", h.cmd.Process.Pid)); err != nil {
		t.Fatal(err)
	} else if want := fmt.Sprintf("CapEff:\t%016x\n", 1<<unix.CAP_BPF|1<<unix.CAP_NET_ADMIN); !strings.Contains(string(st), want) {
		t.Fatalf("the helper's effective capabilities are not CAP_BPF and CAP_NET_ADMIN alone:\n%s", st)
	}
	return h
}

// unprivilegedCopy copies the test binary where nobody may run it: go
// test's own directory is root's alone. The copy goes when the test ends.
func unprivilegedCopy(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "otelcol-xdp-bpf-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bpf.test")
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestClsactStaleFiltersUnderLeastPrivilege: collectors that are each pid
// 1 of their own PID namespace, with CAP_BPF and CAP_NET_ADMIN only, as in
// a container under the Helm chart. The filters of one that was SIGKILLed
// are removed by the next one's first attach; those of a live one stay.
func TestClsactStaleFiltersUnderLeastPrivilege(t *testing.T) {
	xdptest.Privileged(t)
	p, other, livePair := xdptest.NewPair(t), xdptest.NewPair(t), xdptest.NewPair(t)
	dead := startIsolatedHelper(t, other.Host)
	live := startIsolatedHelper(t, livePair.Host)
	if dead.filters == live.filters {
		t.Fatalf("two collectors name their filters alike, %q", dead.filters)
	}
	dead.kill(t)
	if n := len(ourFilters(t, other.Host, dead.filters)); n != 2 {
		t.Fatalf("%d filters of the killed collector are left, want both: clsact filters outlive their process", n)
	}

	next := startIsolatedHelper(t, p.Host)
	if fs := xdptest.ClsactFilters(t, other.Host); len(fs) != 0 {
		t.Errorf("the killed collector's filters are left after the next one started: %v", fs)
	}
	if n := len(ourFilters(t, livePair.Host, live.filters)); n != 2 {
		t.Errorf("%d filters of the live collector are left, want its 2", n)
	}
	if n := len(ourFilters(t, p.Host, next.filters)); n != 2 {
		t.Errorf("the next collector has %d filters, want 2", n)
	}
}

// TestClsactSweepsOldNames: filters named by a pid, as versions before
// owner tokens named them, are stale when no process of that pid runs the
// counter; and nothing whose program has another tag is ever removed,
// whatever its name.
func TestClsactSweepsOldNames(t *testing.T) {
	src := legacyDatapath(t) // programs with our tag, as an older process's
	p, q := xdptest.NewPair(t), xdptest.NewPair(t)
	exited := exec.Command(os.Args[0], "-test.run=^$")
	if err := exited.Run(); err != nil {
		t.Fatal(err)
	}
	alive := startHelper(t, "TestHelperProcessCounts", q.Host, "tc", "XDP_HELPER_LEGACY=1")
	goneToken := "otelcol-xdp/0123456789abcdef" // nobody holds it
	add := func(prog *ebpf.Program, prio uint16, name string) {
		t.Helper()
		f := &netlink.BpfFilter{
			FilterAttrs:  netlink.FilterAttrs{LinkIndex: p.HostIndex, Parent: netlink.HANDLE_MIN_INGRESS, Priority: prio, Protocol: unix.ETH_P_ALL},
			Fd:           prog.FD(),
			Name:         name,
			DirectAction: true,
		}
		if err := netlink.FilterAdd(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := netlink.QdiscAdd(&netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: p.HostIndex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}); err != nil {
		t.Fatal(err)
	}
	ours, foreign := src.Program(false, bpf.Receive), tcPass(t)
	stale := map[string]bool{
		"otelcol-xdp/" + strconv.Itoa(exited.Process.Pid):    true,
		"otelcol-xdp/" + strconv.Itoa(alive.cmd.Process.Pid): false,
		goneToken: true,
	}
	prio := uint16(10)
	for name := range stale {
		add(ours, prio, name)
		prio++
	}
	add(foreign, prio, goneToken)
	add(foreign, prio+1, "otelcol-xdp/"+strconv.Itoa(exited.Process.Pid))

	d := legacyDatapath(t)
	attach(t, open(t, d, p.Host), bpf.Receive, bpf.ModeTC)
	info, err := ours.Info()
	if err != nil {
		t.Fatal(err)
	}
	left, foreignLeft := map[string]int{}, 0
	for _, f := range xdptest.ClsactFilters(t, p.Host) {
		if f.Tag == info.Tag {
			left[f.Name]++
		} else {
			foreignLeft++
		}
	}
	for name, gone := range stale {
		if want := map[bool]int{true: 0, false: 1}[gone]; left[name] != want {
			t.Errorf("%q (stale: %v): %d filters of our program left, want %d", name, gone, left[name], want)
		}
	}
	if foreignLeft != 2 {
		t.Errorf("%d filters of a foreign program left, want both, though named like ours", foreignLeft)
	}
	if left[d.ClsactFilterName()] != 1 {
		t.Errorf("the datapath's own filter: %d, want 1", left[d.ClsactFilterName()])
	}
}

// TestClsactRemovedFromOutside removes the counter's clsact filter, then
// the whole clsact qdisc, from outside, as tc or a CNI that sets TC up
// again does: Attached says so each time, and a changed neighbor does
// not make it say so.
func TestClsactRemovedFromOutside(t *testing.T) {
	d := legacyDatapath(t)
	p, neighbor := xdptest.NewPair(t), xdptest.NewPair(t)
	ifc, nifc := open(t, d, p.Host), open(t, d, neighbor.Host)
	attachBoth(t, bpf.ModeTC, ifc, nifc)
	requireAttached := func(ifc *bpf.Interface, want bool, when string) {
		t.Helper()
		if ok, err := ifc.Attached(); ok != want || err != nil {
			t.Fatalf("%s: %q Attached() = %v, %v; want %v, nil", when, ifc.Name(), ok, err, want)
		}
	}
	requireAttached(ifc, true, "after Attach")

	fs := ourFilters(t, p.Host, d.ClsactFilterName())
	if len(fs) != 2 {
		t.Fatalf("%d filters of ours, want 2", len(fs))
	}
	if err := netlink.FilterDel(fs[0]); err != nil {
		t.Fatal(err)
	}
	requireAttached(nifc, true, "after a filter of another interface was removed")
	requireAttached(ifc, false, "after one of its filters was removed")

	if err := ifc.Detach(); err != nil {
		t.Fatal(err)
	}
	ifc = open(t, d, p.Host)
	attachBoth(t, bpf.ModeTC, ifc)
	requireAttached(ifc, true, "attached again")
	if err := netlink.QdiscDel(&netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: p.HostIndex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}); err != nil {
		t.Fatal(err)
	}
	requireAttached(nifc, true, "after the clsact qdisc of another interface was removed")
	requireAttached(ifc, false, "after its clsact qdisc was removed")
	if err := ifc.Detach(); err != nil {
		t.Errorf("Detach after the qdisc was removed: %v", err)
	}
}

// TestClsactLookupFailureLeavesNoFilter: when the filter just added cannot
// be found again, the attach fails and removes it, so that retries do not
// pile filters up; once the lookup works, one filter counts.
func TestClsactLookupFailureLeavesNoFilter(t *testing.T) {
	d := legacyDatapath(t)
	p := xdptest.NewPair(t)
	ifc := open(t, d, p.Host)
	t.Run("failing", func(t *testing.T) {
		bpf.FailFilterLookup(t)
		for range 3 {
			if _, err := ifc.Attach(bpf.Receive, bpf.ModeTC); err == nil || !strings.Contains(err.Error(), "injected lookup failure") {
				t.Fatalf("Attach with the lookup failing: %v, want the lookup's error", err)
			}
			if fs := xdptest.ClsactFilters(t, p.Host); len(fs) != 0 {
				t.Fatalf("filters left by a failed attach: %v", fs)
			}
		}
	})
	attach(t, ifc, bpf.Receive, bpf.ModeTC)
	if fs := xdptest.ClsactFilters(t, p.Host); len(fs) != 1 {
		t.Errorf("after a successful attach: filters %v, want 1", fs)
	}
	var want bpf.Counts
	for _, f := range xdptest.Frames() {
		p.Inject(t, f.Data)
		add(&want, bpf.Receive, f)
	}
	waitFor(t, d, ifc, want)
}
