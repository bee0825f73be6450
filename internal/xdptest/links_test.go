//go:build linux

package xdptest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tcProgram loads a TC program that leaves every packet to the next one,
// closed when the test ends.
func tcProgram(t *testing.T) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "xdptest_tc",
		Type:         ebpf.SchedCLS,
		License:      "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, -1 /* TC_ACT_UNSPEC */), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

func programID(t *testing.T, p *ebpf.Program) uint32 {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return uint32(id)
}

// attachTCX attaches prog to the interface's TC ingress through a TCX
// link, closed when the test ends.
func attachTCX(t *testing.T, index int, prog *ebpf.Program) {
	t.Helper()
	l, err := link.AttachTCX(link.TCXOptions{Interface: index, Program: prog, Attach: ebpf.AttachTCXIngress})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}

// addClsactFilter adds a bpf filter named name to the interface's clsact
// qdisc at parent, adding the qdisc if need be; both go with the
// interface.
func addClsactFilter(t *testing.T, index int, parent uint32, name string, prog *ebpf.Program) {
	t.Helper()
	q := &netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}
	if err := netlink.QdiscReplace(q); err != nil {
		t.Fatal(err)
	}
	f := &netlink.BpfFilter{
		FilterAttrs:  netlink.FilterAttrs{LinkIndex: index, Parent: parent, Priority: 1, Protocol: unix.ETH_P_ALL},
		Fd:           prog.FD(),
		Name:         name,
		DirectAction: true,
	}
	if err := netlink.FilterAdd(f); err != nil {
		t.Fatal(err)
	}
}

// TestHooksSeeEveryAttachment: Hooks counts an XDP program, every TCX link
// and every clsact filter of otelcol-xdp's, and no one else's filter;
// Attached and RequireDetached go by it. DetachLinks detaches the links
// from outside, leaving the filters.
func TestHooksSeeEveryAttachment(t *testing.T) {
	p := NewPair(t)
	if Attached(t, p.Host) || Hooks(t, p.Host) != 0 || HasClsact(t, p.Host) || len(ClsactFilters(t, p.Host)) != 0 {
		t.Fatalf("a new pair has programs attached: %d hooks", Hooks(t, p.Host))
	}
	RequireDetached(t, p.Host)

	prog := tcProgram(t)
	attachTCX(t, p.HostIndex, prog)
	if ids := TCXPrograms(t, p.Host); !slices.Equal(ids, []uint32{programID(t, prog)}) {
		t.Errorf("TCXPrograms = %v, want [%d]", ids, programID(t, prog))
	}
	if !Attached(t, p.Host) || Hooks(t, p.Host) != 1 {
		t.Errorf("a TCX link: Attached %v, %d hooks; want true, 1", Attached(t, p.Host), Hooks(t, p.Host))
	}
	rec := &recorder{TB: t}
	RequireDetached(rec, p.Host)
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "programs attached to "+p.Host) {
		t.Errorf("RequireDetached with a TCX link: %q, want one failure naming %q", rec.errors, p.Host)
	}

	AttachForeignXDP(t, p.Host)
	addClsactFilter(t, p.HostIndex, netlink.HANDLE_MIN_INGRESS, "otelcol-xdp/1", prog)
	addClsactFilter(t, p.HostIndex, netlink.HANDLE_MIN_EGRESS, "someone-else", prog)
	if !HasClsact(t, p.Host) || len(ClsactFilters(t, p.Host)) != 2 {
		t.Errorf("clsact %v with filters %v, want one ingress and one egress", HasClsact(t, p.Host), ClsactFilters(t, p.Host))
	}
	if n := Hooks(t, p.Host); n != 3 {
		t.Errorf("an XDP program, a TCX link, a filter of ours and someone else's: %d hooks, want 3", n)
	}

	DetachLinks(t, p.Host)
	if XDPProgramID(t, p.Host) != 0 || len(TCXPrograms(t, p.Host)) != 0 {
		t.Errorf("after DetachLinks: XDP program %d, TCX programs %v", XDPProgramID(t, p.Host), TCXPrograms(t, p.Host))
	}
	if n := Hooks(t, p.Host); n != 1 {
		t.Errorf("after DetachLinks: %d hooks, want the filter of ours", n)
	}
	if err := netlink.QdiscDel(&netlink.GenericQdisc{
		QdiscAttrs: netlink.QdiscAttrs{LinkIndex: p.HostIndex, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
		QdiscType:  "clsact",
	}); err != nil {
		t.Fatal(err)
	}
	RequireDetached(t, p.Host)
}

// TestDetachLinksOfAType: DetachXDPLink and DetachTCXLinks detach the
// links of their type only, as many as there are, and RequireNoXDP and
// RequireNoTCX then pass.
func TestDetachLinksOfAType(t *testing.T) {
	p := NewPair(t)
	AttachForeignXDP(t, p.Host)
	attachTCX(t, p.HostIndex, tcProgram(t))
	attachTCX(t, p.HostIndex, tcProgram(t))
	DetachTCXLinks(t, p.Host, 2)
	RequireNoTCX(t, p.Host)
	if XDPProgramID(t, p.Host) == 0 {
		t.Error("DetachTCXLinks detached the XDP link")
	}
	DetachXDPLink(t, p.Host)
	RequireNoXDP(t, p.Host)
	RequireDetached(t, p.Host)
}

// fatalRecorder is a testing.TB whose Fatalf records the failure and
// returns, so that a test can check that a helper fails.
type fatalRecorder struct {
	testing.TB
	failure string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) { f.failure = fmt.Sprintf(format, args...) }

// TestProgramMap finds a program's map by name through the program's id,
// as a test that cannot reach into the component that loaded them does,
// and fails the test for a name the program has no map of.
func TestProgramMap(t *testing.T) {
	Privileged(t)
	newMap := func(name string) *ebpf.Map {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Name: name, Type: ebpf.Array, KeySize: 4, ValueSize: 8, MaxEntries: 1})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	a, b := newMap("xdptest_a"), newMap("xdptest_b")
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:    "xdptest_maps",
		Type:    ebpf.XDP,
		License: "MIT",
		Instructions: asm.Instructions{
			asm.LoadMapPtr(asm.R1, a.FD()),
			asm.LoadMapPtr(asm.R1, b.FD()),
			asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */),
			asm.Return(),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	id := programID(t, prog)
	if err := b.Put(uint32(0), uint64(42)); err != nil {
		t.Fatal(err)
	}

	got := ProgramMap(t, id, "xdptest_b")
	var v uint64
	if err := got.Lookup(uint32(0), &v); err != nil || v != 42 {
		t.Errorf("ProgramMap(%d, %q) reads %d, %v; want xdptest_b's 42", id, "xdptest_b", v, err)
	}
	info, err := got.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "xdptest_b" {
		t.Errorf("ProgramMap(%d, %q) opened %q", id, "xdptest_b", info.Name)
	}

	rec := &fatalRecorder{TB: t}
	if m := ProgramMap(rec, id, "nope"); m != nil || !strings.Contains(rec.failure, `has no map "nope"`) {
		t.Errorf("ProgramMap(%d, %q) = %v, failure %q; want nil and a failure", id, "nope", m, rec.failure)
	}
}
