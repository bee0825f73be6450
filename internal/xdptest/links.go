//go:build linux

package xdptest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DetachXDPLink detaches the bpf_link that holds the XDP program of the
// named interface, from outside its owner, as `bpftool link detach` would:
// the link stays open in its owner, attached to nothing. It fails t when
// no XDP link is attached to the interface.
func DetachXDPLink(t testing.TB, iface string) {
	t.Helper()
	detachLinks(t, iface, link.XDPType, 1)
}

// DetachTCXLinks detaches every TCX link of the named interface from
// outside, as DetachXDPLink does, and fails t unless there were want.
func DetachTCXLinks(t testing.TB, iface string, want int) {
	t.Helper()
	detachLinks(t, iface, link.TCXType, want)
}

func detachLinks(t testing.TB, iface string, typ link.Type, want int) {
	t.Helper()
	n := 0
	for _, l := range linksOf(t, iface, typ) {
		if err := l.Detach(); err != nil {
			t.Fatalf("detaching %v link of %q: %v", typ, iface, err)
		}
		l.Close()
		n++
	}
	if n != want {
		t.Fatalf("detached %d %v links of %q, want %d", n, typ, iface, want)
	}
}

// TCXPrograms returns the ids of the programs that TCX links attach to the
// named interface.
func TCXPrograms(t testing.TB, iface string) []uint32 {
	t.Helper()
	var ids []uint32
	for _, l := range linksOf(t, iface, link.TCXType) {
		info, err := l.Info()
		if err == nil {
			ids = append(ids, uint32(info.Program))
		}
		l.Close()
	}
	return ids
}

// ProgramMap opens the map named name that the program of id prog uses,
// through the kernel's ids alone: a test reads what a component counts
// without reaching into it, and keeps reading after the component closed
// it. The map is closed when the test ends; t fails when the program has
// no such map.
func ProgramMap(t testing.TB, prog uint32, name string) *ebpf.Map {
	t.Helper()
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(prog))
	if err != nil {
		t.Fatalf("program %d: %v", prog, err)
	}
	defer p.Close()
	info, err := p.Info()
	if err != nil {
		t.Fatalf("program %d: %v", prog, err)
	}
	ids, ok := info.MapIDs()
	if !ok {
		t.Fatalf("program %d: the kernel does not tell its maps", prog)
	}
	for _, id := range ids {
		m, err := ebpf.NewMapFromID(id)
		if err != nil {
			t.Fatalf("map %d of program %d: %v", id, prog, err)
		}
		if mi, err := m.Info(); err == nil && mi.Name == name {
			t.Cleanup(func() { m.Close() })
			return m
		}
		m.Close()
	}
	t.Fatalf("program %d has no map %q", prog, name)
	return nil
}

// RequireNoTCX fails t if the named interface has TCX links, after a
// moment for links being closed.
func RequireNoTCX(t testing.TB, iface string) {
	t.Helper()
	waitGone(t, func() int { return len(TCXPrograms(t, iface)) }, "TCX links on "+iface)
}

// linksOf opens the bpf_links of type typ attached to the named interface.
// Callers close them. A link that is being released while the listing
// runs cannot be opened (EAGAIN): the listing then starts again.
func linksOf(t testing.TB, iface string, typ link.Type) []link.Link {
	t.Helper()
	index := uint32(ifindexOf(t, iface))
	for try := 0; ; try++ {
		out, err := listLinks(index, typ)
		if err == nil {
			return out
		}
		if !errors.Is(err, unix.EAGAIN) || try == 100 {
			t.Fatalf("listing bpf_links: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

func listLinks(index uint32, typ link.Type) ([]link.Link, error) {
	var out []link.Link
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil || info.Type != typ {
			continue
		}
		switch {
		case typ == link.XDPType && info.XDP() != nil && info.XDP().Ifindex == index,
			typ == link.TCXType && info.TCX() != nil && info.TCX().Ifindex == index:
			out = append(out, it.Take())
		}
	}
	if err := it.Err(); err != nil {
		for _, l := range out {
			l.Close()
		}
		return nil, err
	}
	return out, nil
}

func ifindexOf(t testing.TB, iface string) int {
	t.Helper()
	return linkByName(t, iface).Attrs().Index
}

// ClsactFilters returns the bpf filters of the named interface's clsact
// qdisc, on ingress and egress, or none when it has no clsact qdisc.
func ClsactFilters(t testing.TB, iface string) []*netlink.BpfFilter {
	t.Helper()
	l := linkByName(t, iface)
	var out []*netlink.BpfFilter
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		filters, err := netlink.FilterList(l, parent)
		if err != nil {
			continue // no clsact qdisc
		}
		for _, f := range filters {
			if b, ok := f.(*netlink.BpfFilter); ok {
				out = append(out, b)
			}
		}
	}
	return out
}

// HasClsact tells whether the named interface has a clsact qdisc.
func HasClsact(t testing.TB, iface string) bool {
	t.Helper()
	qdiscs, err := netlink.QdiscList(linkByName(t, iface))
	if err != nil {
		t.Fatalf("listing the qdiscs of %q: %v", iface, err)
	}
	for _, q := range qdiscs {
		if q.Type() == "clsact" {
			return true
		}
	}
	return false
}

// AttachForeignXDP attaches someone else's XDP program (one that passes
// every frame) to the named interface through a bpf_link in generic mode,
// until the test ends or detach, and returns its id.
func AttachForeignXDP(t testing.TB, iface string) (id uint32, detach func()) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "foreign_xdp",
		Type:         ebpf.XDP,
		License:      "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2 /* XDP_PASS */), asm.Return()},
	})
	if err != nil {
		t.Fatalf("loading a foreign XDP program: %v", err)
	}
	t.Cleanup(func() { prog.Close() })
	l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifindexOf(t, iface), Flags: link.XDPGenericMode})
	if err != nil {
		t.Fatalf("attaching a foreign XDP program to %q: %v", iface, err)
	}
	t.Cleanup(func() { l.Close() })
	return XDPProgramID(t, iface), func() {
		if err := l.Close(); err != nil {
			t.Fatalf("detaching the foreign XDP program from %q: %v", iface, err)
		}
		RequireNoXDP(t, iface)
	}
}

// Attached tells whether anything counts on the named interface: an XDP
// program, a TCX link, or a clsact filter of otelcol-xdp's.
func Attached(t testing.TB, iface string) bool {
	t.Helper()
	return Hooks(t, iface) > 0
}

// Hooks is how many programs count on the named interface: an XDP program,
// TCX links and clsact filters of otelcol-xdp's; the receiver attaches one
// per direction.
func Hooks(t testing.TB, iface string) int {
	t.Helper()
	n := len(TCXPrograms(t, iface))
	if XDPProgramID(t, iface) != 0 {
		n++
	}
	for _, f := range ClsactFilters(t, iface) {
		if strings.HasPrefix(f.Name, "otelcol-xdp/") {
			n++
		}
	}
	return n
}

// RequireDetached fails t if anything still counts on any of the named
// interfaces (Attached), after a moment for links being closed.
func RequireDetached(t testing.TB, ifaces ...string) {
	t.Helper()
	for _, i := range ifaces {
		waitGone(t, func() int { return Hooks(t, i) }, "programs attached to "+i)
	}
}

// DetachLinks detaches every XDP and TCX link of the named interface from
// outside, as `bpftool link detach` would, and fails t when there is none.
func DetachLinks(t testing.TB, iface string) {
	t.Helper()
	n := 0
	for _, typ := range []link.Type{link.XDPType, link.TCXType} {
		for _, l := range linksOf(t, iface, typ) {
			if err := l.Detach(); err != nil {
				t.Fatalf("detaching %v link of %q: %v", typ, iface, err)
			}
			l.Close()
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no XDP or TCX link is attached to %q", iface)
	}
}
