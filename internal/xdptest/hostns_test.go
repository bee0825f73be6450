//go:build linux

package xdptest

import (
	"os"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestNamespace checks that a Namespace is apart from the test's own, with
// only its loopback, up, and IPv6 as asked.
func TestNamespace(t *testing.T) {
	for _, ipv6 := range []bool{false, true} {
		n := NewNamespace(t, ipv6)
		links, err := n.Handle(t).LinkList()
		if err != nil {
			t.Fatal(err)
		}
		if len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&1 == 0 {
			t.Fatalf("ipv6 %v: links %v, want only lo, up", ipv6, links)
		}
		var disabled []byte
		if err := n.Do(func() (err error) {
			disabled, err = os.ReadFile("/proc/sys/net/ipv6/conf/default/disable_ipv6")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{true: "0\n", false: "1\n"}[ipv6]; string(disabled) != want {
			t.Errorf("ipv6 %v: disable_ipv6 %q, want %q", ipv6, disabled, want)
		}
		if _, err := netlink.LinkByName("lo"); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Handle(t).LinkByName("lo"); err != nil {
			t.Fatal(err)
		}
	}
}
