//go:build linux

package bpf_test

import (
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestTCWatch: the watch tells an interface changed after its clsact qdisc
// was added or removed only if it watches that interface, from the moment
// it started to; lost notifications count as a change of every interface.
func TestTCWatch(t *testing.T) {
	xdptest.Privileged(t)
	w, err := bpf.NewTCWatch()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	p, q := xdptest.NewPair(t), xdptest.NewPair(t)
	clsact := func(index int) *netlink.GenericQdisc {
		return &netlink.GenericQdisc{
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: index, Handle: netlink.MakeHandle(0xffff, 0), Parent: netlink.HANDLE_CLSACT},
			QdiscType:  "clsact",
		}
	}
	for _, idx := range []int{p.HostIndex, q.HostIndex} {
		if err := netlink.QdiscAdd(clsact(idx)); err != nil {
			t.Fatal(err)
		}
	}
	since := w.Watch(p.HostIndex)
	check := func(want bool, when string) {
		t.Helper()
		changed, now, err := w.ChangedSince(p.HostIndex, since)
		if err != nil || changed != want {
			t.Fatalf("%s: changedSince = %v, %v; want %v", when, changed, err, want)
		}
		since = now
	}
	check(false, "nothing happened")
	if err := netlink.QdiscDel(clsact(q.HostIndex)); err != nil {
		t.Fatal(err)
	}
	check(false, "another interface's qdisc was removed")
	if err := netlink.QdiscDel(clsact(p.HostIndex)); err != nil {
		t.Fatal(err)
	}
	check(true, "its qdisc was removed")
	check(false, "nothing happened since")

	w.Lose()
	check(true, "notifications were lost")
	w.Unwatch(p.HostIndex)
	if n := w.Watched(); n != 0 {
		t.Errorf("unwatched, the watch still holds %d entries", n)
	}
}
