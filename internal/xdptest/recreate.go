package xdptest

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Recreate creates the pair again, with the same names and namespace,
// after DeleteHost: the same interface name, a new interface. The peer's
// socket is kept (it lives in the namespace, not on the interface), so
// Inject and Flood work on the new pair. It must not run alongside them.
func (p *Pair) Recreate(t testing.TB) {
	t.Helper()
	p.create(t)
	p.peerIndex = nsIfindex(t, p.NS, p.Peer)
}

// nsIfindex is the index of the interface name in the namespace ns, from
// `ip -o link show`, whose lines start with "index: name".
func nsIfindex(t testing.TB, ns, name string) int {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-o", "link", "show", "dev", name).Output()
	if err != nil {
		t.Fatalf("ip -n %s link show dev %s: %v", ns, name, err)
	}
	i, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(out), ":", 2)[0]))
	if err != nil {
		t.Fatalf("parsing the index of %q in %q from %q: %v", name, ns, out, err)
	}
	return i
}
