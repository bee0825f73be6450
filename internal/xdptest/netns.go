//go:build linux

package xdptest

import (
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// namespace is a network namespace of a test's own. It has no name in
// /run/netns: the test holds it by a descriptor only, so it dies with the
// test process whatever way that ends (a timeout's panic, SIGKILL), taking
// the veth peers inside it, and with them their host ends.
type namespace struct {
	fd netns.NsHandle
}

// newNamespace creates a namespace in which IPv6 starts off on every new
// interface, so that peers never send router solicitations or MLD reports.
// It is closed when the test ends.
func newNamespace(t testing.TB) *namespace {
	t.Helper()
	var ns namespace
	err := onThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare(CLONE_NEWNET): %w", err)
		}
		fd, err := netns.Get()
		if err != nil {
			return err
		}
		ns.fd = fd
		return writeSysctls(map[string]string{
			"net/ipv6/conf/default/disable_ipv6": "1",
			"net/ipv6/conf/all/disable_ipv6":     "1",
		})
	})
	if err != nil {
		if ns.fd.IsOpen() {
			ns.fd.Close()
		}
		t.Fatalf("creating a network namespace: %v", err)
	}
	t.Cleanup(func() { ns.fd.Close() })
	return &ns
}

// do runs f on a thread inside the namespace. The thread is thrown away
// afterwards, so no goroutine ever runs in the wrong namespace.
func (ns *namespace) do(f func() error) error {
	return onThrowawayThread(func() error {
		if err := netns.Set(ns.fd); err != nil {
			return fmt.Errorf("entering the test's network namespace: %w", err)
		}
		return f()
	})
}

// handle is a netlink handle on the namespace. Callers close it.
func (ns *namespace) handle() (*netlink.Handle, error) {
	return netlink.NewHandleAt(ns.fd)
}

// onThrowawayThread runs f on an OS thread of its own that exits with it:
// a goroutine that locks its thread and never unlocks it takes the thread
// down when it returns, with whatever namespace f left it in.
func onThrowawayThread(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- f()
	}()
	return <-errc
}

// writeSysctls writes /proc/sys entries. Entries under net/ belong to the
// network namespace of the thread that opens them.
func writeSysctls(kv map[string]string) error {
	for k, v := range kv {
		if err := os.WriteFile("/proc/sys/"+k, []byte(v), 0o644); err != nil {
			return err
		}
	}
	return nil
}
