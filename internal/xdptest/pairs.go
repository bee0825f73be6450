package xdptest

import (
	"fmt"
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// Pairs is a group of veth pairs whose host ends share a prefix of their
// own, so that the pattern Prefix+"*" matches them and nothing else on the
// host (other tests' pairs included). Their peers share one namespace.
type Pairs struct {
	Prefix string
	NS     string
	Pairs  []*Pair
}

// NewPairs creates n pairs named Prefix+"0" and on, and removes them and
// their namespace when the test ends, whether it passed or not.
func NewPairs(t testing.TB, n int) *Pairs {
	t.Helper()
	Privileged(t)
	id := randomID()
	ps := &Pairs{Prefix: "xg" + id + "v", NS: "xdpt-" + id + "g"}
	run(t, "ip", "netns", "add", ps.NS)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ps.NS).Run() })
	run(t, "ip", "netns", "exec", ps.NS, "sysctl", "-q", "-w",
		"net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1")
	t.Cleanup(func() { ps.Delete(t) })
	ps.Add(t, n)
	return ps
}

// openSocketNS opens the pair's socket in its namespace, before the peer
// exists: Recreate then looks the peer up.
func (p *Pair) openSocketNS() error {
	peer := p.Peer
	p.Peer = "lo" // openSocket looks the peer up; lo always exists
	defer func() { p.Peer = peer }()
	return p.openSocket()
}

// Delete deletes every host end, and with it every pair, and closes the
// sockets; the namespace stays until the test ends. It is safe twice.
func (ps *Pairs) Delete(t testing.TB) {
	t.Helper()
	for _, p := range ps.Pairs {
		_ = exec.Command("ip", "link", "delete", p.Host).Run()
		if p.sock >= 0 {
			unix.Close(p.sock)
			p.sock = -1
		}
	}
}

// Add creates n more pairs, numbered on from the existing ones.
func (ps *Pairs) Add(t testing.TB, n int) {
	t.Helper()
	id := ps.Prefix[2 : len(ps.Prefix)-1]
	for range n {
		i := len(ps.Pairs)
		p := &Pair{Host: fmt.Sprintf("%s%d", ps.Prefix, i), Peer: fmt.Sprintf("xg%sp%d", id, i), NS: ps.NS, sock: -1}
		if err := p.openSocketNS(); err != nil {
			t.Fatalf("opening a packet socket in %q: %v", ps.NS, err)
		}
		// Every pair gets its own socket, opened in the shared namespace.
		ps.Pairs = append(ps.Pairs, p)
		p.Recreate(t)
	}
}
