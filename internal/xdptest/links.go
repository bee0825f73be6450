//go:build linux

package xdptest

import (
	"testing"

	"github.com/cilium/ebpf/link"
)

// DetachXDPLink detaches the bpf_link that holds the XDP program of the
// named interface, from outside its owner, as `bpftool link detach` would:
// the link stays open in its owner, attached to nothing. It fails t when
// no XDP link is attached to the interface.
func DetachXDPLink(t testing.TB, iface string) {
	t.Helper()
	index := ifindexOf(t, iface)
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			continue // a link of a type this kernel cannot describe
		}
		if info.Type != link.XDPType || info.XDP() == nil || int(info.XDP().Ifindex) != index {
			continue
		}
		if err := it.Link.Detach(); err != nil {
			t.Fatalf("detaching XDP link id %d of %q: %v", it.ID, iface, err)
		}
		return
	}
	if err := it.Err(); err != nil {
		t.Fatalf("listing bpf_links: %v", err)
	}
	t.Fatalf("no XDP bpf_link is attached to %q", iface)
}

func ifindexOf(t testing.TB, iface string) int {
	t.Helper()
	return linkByName(t, iface).Attrs().Index
}
