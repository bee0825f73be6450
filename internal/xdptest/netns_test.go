//go:build linux

package xdptest

import (
	"errors"
	"maps"
	"os"
	"strings"
	"testing"

	"github.com/vishvananda/netns"
)

// TestNamespaceHoldsIPv6Off: a pair's namespace has IPv6 off by default,
// so that its peer, created there, never sends a router solicitation or
// an MLD report; the test's own namespace keeps its settings.
func TestNamespaceHoldsIPv6Off(t *testing.T) {
	own := sysctl(t, "net/ipv6/conf/default/disable_ipv6")
	p := NewPair(t)
	inside := map[string]string{}
	err := p.ns.do(func() error {
		for _, key := range []string{"all", "default", p.Peer} {
			b, err := os.ReadFile("/proc/sys/net/ipv6/conf/" + key + "/disable_ipv6")
			if err != nil {
				return err
			}
			inside[key] = strings.TrimSpace(string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"all": "1", "default": "1", p.Peer: "1"}; !maps.Equal(inside, want) {
		t.Errorf("disable_ipv6 in the namespace: %v, want %v", inside, want)
	}
	if v := sysctl(t, "net/ipv6/conf/default/disable_ipv6"); v != own {
		t.Errorf("the test's namespace: default disable_ipv6 went from %s to %s", own, v)
	}
}

// TestNamespaceDo: do runs f in the namespace, on a thread of its own,
// and returns what f returns; the caller stays in its namespace.
func TestNamespaceDo(t *testing.T) {
	Privileged(t)
	ns := newNamespace(t)
	own, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	fail := errors.New("fake failure")
	err = ns.do(func() error {
		cur, err := netns.Get()
		if err != nil {
			return err
		}
		defer cur.Close()
		if !cur.Equal(ns.fd) || cur.Equal(own) {
			t.Error("do ran f outside the namespace")
		}
		return fail
	})
	if !errors.Is(err, fail) {
		t.Errorf("do returned %v, want f's error", err)
	}
	after, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer after.Close()
	if !after.Equal(own) {
		t.Error("the caller's thread was left in the namespace")
	}
}

// TestNamespaceClosedWithTheTest: the namespace's descriptor, its only
// hold, is closed when the test that made it ends.
func TestNamespaceClosedWithTheTest(t *testing.T) {
	Privileged(t)
	var ns *namespace
	t.Run("make", func(t *testing.T) {
		ns = newNamespace(t)
		if !ns.fd.IsOpen() {
			t.Fatal("a new namespace has no descriptor")
		}
	})
	if ns.fd.IsOpen() {
		t.Errorf("descriptor %d still open after the test ended", int(ns.fd))
	}
}
