//go:build linux

package xdptest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// received is how many packets the host end, or the peer, has received,
// as its driver counts them.
func received(t *testing.T, p *Pair, peer bool) uint64 {
	t.Helper()
	if !peer {
		return linkByName(t, p.Host).Attrs().Statistics.RxPackets
	}
	h, err := p.ns.handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByName(p.Peer)
	if err != nil {
		t.Fatalf("looking up %q in its namespace: %v", p.Peer, err)
	}
	return l.Attrs().Statistics.RxPackets
}

// requireReceived waits until the host end (or the peer) has received n
// packets since it had received before, and fails t if it never does, or
// if it receives more: frames cross a veth asynchronously, and nothing
// but the test sends on a pair.
func requireReceived(t *testing.T, p *Pair, peer bool, before, n uint64) {
	t.Helper()
	got := received(t, p, peer) - before
	for deadline := time.Now().Add(5 * time.Second); got != n && time.Now().Before(deadline); got = received(t, p, peer) - before {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // anything more in flight would show now
	if got = received(t, p, peer) - before; got != n {
		end := p.Host
		if peer {
			end = p.Peer
		}
		t.Errorf("%s received %d packets, want %d", end, got, n)
	}
}

// requireNoLink fails t if the test's namespace has an interface named
// name.
func requireNoLink(t *testing.T, name string) {
	t.Helper()
	_, err := netlink.LinkByName(name)
	var nf netlink.LinkNotFoundError
	if !errors.As(err, &nf) {
		t.Errorf("looking up %q: got %v, want it not found", name, err)
	}
}

// sysctl reads an entry of /proc/sys, in the namespace of the calling
// thread.
func sysctl(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// dumpLinks lists the interfaces of the test's namespace with a dump,
// again while interfaces that change meanwhile (other tests') interrupt
// it.
func dumpLinks(t *testing.T) []netlink.Link {
	t.Helper()
	for try := 0; ; try++ {
		ls, err := netlink.LinkList()
		if err == nil {
			return ls
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) || try == 100 {
			t.Fatalf("listing interfaces: %v", err)
		}
	}
}

// recorder is a testing.TB that records the failures of a helper under
// test instead of failing the test.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// TestNewPair: a pair's ends are named uniquely after one id, as
// IsTestInterface knows them; the host end is up and ready to send (its
// operational state up), IPv6 off, in the test's namespace, with nothing
// attached; the peer is up in a namespace of its own.
func TestNewPair(t *testing.T) {
	p, other := NewPair(t), NewPair(t)
	// A dump, unlike a request for one link, leaves the link watch alone:
	// it shows whether NewPair waited for it.
	for _, l := range dumpLinks(t) {
		if n := l.Attrs().Name; (n == p.Host || n == other.Host) && l.Attrs().OperState != netlink.OperUp {
			t.Errorf("%q is %v when NewPair returns, want up: frames sent out of it would be dropped", n, l.Attrs().OperState)
		}
	}
	if p.Host == other.Host || p.Peer == other.Peer {
		t.Errorf("two pairs share names: %q/%q and %q/%q", p.Host, p.Peer, other.Host, other.Peer)
	}
	m := regexp.MustCompile(`^xdp([0-9a-f]{6})h$`).FindStringSubmatch(p.Host)
	if len(m) != 2 || p.Peer != "xdp"+m[1]+"p" {
		t.Fatalf("pair %q/%q: want xdp<id>h and xdp<id>p", p.Host, p.Peer)
	}
	if !IsTestInterface(p.Host) || !IsTestInterface(p.Peer) {
		t.Errorf("IsTestInterface does not know %q or %q", p.Host, p.Peer)
	}
	host := linkByName(t, p.Host)
	if host.Type() != "veth" || host.Attrs().Index != p.HostIndex || host.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%q: a %s, index %d, flags %v; want a veth that is up, index %d", p.Host, host.Type(), host.Attrs().Index, host.Attrs().Flags, p.HostIndex)
	}
	if v := sysctl(t, "net/ipv6/conf/"+p.Host+"/disable_ipv6"); v != "1" {
		t.Errorf("IPv6 on %q: disable_ipv6 is %s", p.Host, v)
	}
	if id := XDPProgramID(t, p.Host); id != 0 {
		t.Errorf("a new pair has XDP program %d", id)
	}
	requireNoLink(t, p.Peer)
	err := p.InPeerNamespace(func() error {
		l, err := netlink.LinkByName(p.Peer)
		if err == nil && (l.Attrs().Flags&net.FlagUp == 0 || l.Attrs().Index != p.peerIndex) {
			err = fmt.Errorf("flags %v, index %d; want up, index %d", l.Attrs().Flags, l.Attrs().Index, p.peerIndex)
		}
		return err
	})
	if err != nil {
		t.Errorf("the peer %q in its namespace: %v", p.Peer, err)
	}
}

// TestPairCleanup: a pair, and an interface of NewGenericOnly, are gone
// once their test ends.
func TestPairCleanup(t *testing.T) {
	var p *Pair
	var generic string
	t.Run("make", func(t *testing.T) {
		p, generic = NewPair(t), NewGenericOnly(t)
	})
	requireNoLink(t, p.Host)
	requireNoLink(t, generic)
}

// TestInjectAndSend: each frame injected arrives on the host end once, and
// each frame sent out of the host end arrives on the peer once.
func TestInjectAndSend(t *testing.T) {
	p := NewPair(t)
	var frames [][]byte
	for _, f := range Frames() {
		frames = append(frames, f.Data)
	}
	before := received(t, p, false)
	p.Inject(t, frames...)
	requireReceived(t, p, false, before, uint64(len(frames)))
	before = received(t, p, true)
	p.Send(t, frames...)
	p.Send(t, frames[0])
	requireReceived(t, p, true, before, uint64(len(frames)+1))
}

// TestNewPairIndexed: the host end gets the index asked for.
func TestNewPairIndexed(t *testing.T) {
	index := 60000 + int(time.Now().UnixNano()%1000)
	if p := NewPairIndexed(t, index); p.HostIndex != index || linkByName(t, p.Host).Attrs().Index != index {
		t.Errorf("%q has index %d, want %d", p.Host, p.HostIndex, index)
	}
}

// TestSetMTU: SetMTU sets the MTU of both ends.
func TestSetMTU(t *testing.T) {
	p := NewPair(t)
	p.SetMTU(t, 9000)
	if mtu := linkByName(t, p.Host).Attrs().MTU; mtu != 9000 {
		t.Errorf("%q: MTU %d, want 9000", p.Host, mtu)
	}
	err := p.InPeerNamespace(func() error {
		l, err := netlink.LinkByName(p.Peer)
		if err == nil && l.Attrs().MTU != 9000 {
			err = fmt.Errorf("MTU %d, want 9000", l.Attrs().MTU)
		}
		return err
	})
	if err != nil {
		t.Errorf("%q: %v", p.Peer, err)
	}
}

// TestDeleteHost: DeleteHost deletes the pair while the test runs, and the
// cleanup that follows finds nothing to delete without failing.
func TestDeleteHost(t *testing.T) {
	p := NewPair(t)
	p.DeleteHost(t)
	requireNoLink(t, p.Host)
	if err := deleteLink(p.Host); err != nil {
		t.Errorf("deleting a deleted interface: %v", err)
	}
}

// TestNewGenericOnly: the interface is a bridge, whose driver has no
// native XDP, named as IsTestInterface knows it, up, with IPv6 off.
func TestNewGenericOnly(t *testing.T) {
	name := NewGenericOnly(t)
	if !regexp.MustCompile(`^xdp[0-9a-f]{6}i$`).MatchString(name) || !IsTestInterface(name) {
		t.Errorf("name %q: want xdp<id>i", name)
	}
	l := linkByName(t, name)
	if l.Type() != "bridge" || l.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("%q: a %s with flags %v, want a bridge that is up", name, l.Type(), l.Attrs().Flags)
	}
	if v := sysctl(t, "net/ipv6/conf/"+name+"/disable_ipv6"); v != "1" {
		t.Errorf("IPv6 on %q: disable_ipv6 is %s", name, v)
	}
}

// TestRequireNoXDP: RequireNoXDP fails while an XDP program is attached,
// and passes once it is gone; XDPProgramID names the program meanwhile.
func TestRequireNoXDP(t *testing.T) {
	p := NewPair(t)
	id, detach := AttachForeignXDP(t, p.Host)
	if id == 0 || XDPProgramID(t, p.Host) != id {
		t.Fatalf("XDPProgramID = %d after attaching program %d", XDPProgramID(t, p.Host), id)
	}
	rec := &recorder{TB: t}
	RequireNoXDP(rec, p.Host)
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "XDP program on "+p.Host) {
		t.Errorf("RequireNoXDP with a program attached: %q, want one failure naming it", rec.errors)
	}
	detach()
	RequireNoXDP(t, p.Host)
}
