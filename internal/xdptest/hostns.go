//go:build linux

package xdptest

import (
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Namespace is a network namespace of a test's own that the test works in
// directly, through Handle and Do: a stand-in for a node's host namespace,
// or a pod's. It is held by a descriptor only, as the pairs' namespaces,
// and goes when the test ends, with every interface in it.
type Namespace struct {
	ns *namespace
}

// NewNamespace creates a namespace, IPv6 on for new interfaces if ipv6,
// and its loopback up.
func NewNamespace(t testing.TB, ipv6 bool) *Namespace {
	t.Helper()
	Privileged(t)
	n := &Namespace{ns: newNamespace(t)}
	err := n.ns.do(func() error {
		if ipv6 {
			if err := writeSysctls(map[string]string{
				"net/ipv6/conf/default/disable_ipv6": "0",
				"net/ipv6/conf/all/disable_ipv6":     "0",
				// Addresses usable at once, without duplicate detection.
				"net/ipv6/conf/default/accept_dad": "0",
			}); err != nil {
				return err
			}
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		return netlink.LinkSetUp(lo)
	})
	if err != nil {
		t.Fatalf("setting up a network namespace: %v", err)
	}
	return n
}

// Handle returns a netlink handle on the namespace, closed when the test
// ends.
func (n *Namespace) Handle(t testing.TB) *netlink.Handle {
	t.Helper()
	h, err := n.ns.handle()
	if err != nil {
		t.Fatalf("opening netlink in a test namespace: %v", err)
	}
	t.Cleanup(h.Close)
	return h
}

// Fd returns the descriptor that holds the namespace; it stays the
// namespace's, open until the test ends.
func (n *Namespace) Fd() netns.NsHandle {
	return n.ns.fd
}

// Do runs f on a thread inside the namespace, thrown away afterwards.
func (n *Namespace) Do(f func() error) error {
	return n.ns.do(f)
}
