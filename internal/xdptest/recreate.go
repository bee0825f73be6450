//go:build linux

package xdptest

import "testing"

// Recreate creates the pair again, with the same names and namespace,
// after DeleteHost: the same interface name, a new interface. The peer's
// socket is kept (it lives in the namespace, not on the interface), so
// Inject and Flood work on the new pair. It must not run alongside them.
func (p *Pair) Recreate(t testing.TB) {
	t.Helper()
	p.create(t)
}
