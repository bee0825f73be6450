//go:build linux

package xdptest

import (
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"

	"golang.org/x/sys/unix"
)

// Pairs is a group of veth pairs whose host ends share a prefix of their
// own, so that the pattern Prefix+"*" matches them and nothing else on the
// host (other tests' pairs included). Their peers share one namespace.
type Pairs struct {
	Prefix string
	Pairs  []*Pair
	ns     *namespace
}

// NewPairs creates n pairs named Prefix+"0" and on, and removes them and
// their namespace when the test ends, whether it passed or not.
func NewPairs(t testing.TB, n int) *Pairs {
	t.Helper()
	Privileged(t)
	ps := &Pairs{Prefix: "xg" + randomID() + "v", ns: newNamespace(t)}
	t.Cleanup(func() { ps.Delete(t) })
	ps.Add(t, n)
	return ps
}

// Delete deletes every host end, and with it every pair, and closes the
// sockets; the namespace stays until the test ends. It is safe twice.
func (ps *Pairs) Delete(t testing.TB) {
	t.Helper()
	for _, p := range ps.Pairs {
		if err := deleteLink(p.Host); err != nil {
			t.Errorf("deleting %q: %v", p.Host, err)
		}
		if p.sock >= 0 {
			unix.Close(p.sock)
			p.sock = -1
		}
	}
}

// Add creates n more pairs, numbered on from the existing ones. Every pair
// gets its own socket, opened in the shared namespace.
func (ps *Pairs) Add(t testing.TB, n int) {
	t.Helper()
	id := ps.Prefix[2 : len(ps.Prefix)-1]
	for range n {
		i := len(ps.Pairs)
		p := &Pair{Host: fmt.Sprintf("%s%d", ps.Prefix, i), Peer: fmt.Sprintf("xg%sp%d", id, i), ns: ps.ns, sock: -1, hostSock: -1}
		ps.Pairs = append(ps.Pairs, p)
		p.create(t)
		if err := p.openSocket(); err != nil {
			t.Fatalf("opening a packet socket for %q: %v", p.Peer, err)
		}
	}
}

// Churn creates and deletes an interface after another, under the group's
// prefix, until the test ends: the netlink dumps of the namespace's
// interfaces that run meanwhile come back interrupted (NLM_F_DUMP_INTR)
// when the group is large enough for a dump to take several messages.
func (ps *Pairs) Churn(t testing.TB) {
	t.Helper()
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("%sc%d", ps.Prefix, i%8)
			veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
			if err := netlink.LinkAdd(veth); err == nil {
				_ = netlink.LinkDel(veth)
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
	})
}
