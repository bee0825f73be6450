//go:build linux

package xdptest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Pair is a veth pair: Host sits in the test's own network namespace, where
// the counter attaches, and its peer sits in a namespace of its own, from
// which frames are injected. Nothing else sends on the peer (IPv6 is off in
// its namespace and it has no address), so the counter sees exactly the
// injected frames.
type Pair struct {
	Host      string
	HostIndex int
	Peer      string
	ns        *namespace
	sock      int // AF_PACKET socket bound to Peer, opened inside ns
	peerIndex int
	hostSock  int // AF_PACKET socket that Send sends out of Host with
	// wantIndex is the ifindex Host is created with; 0 lets the kernel
	// choose.
	wantIndex int
	// hostAddr and peerAddr are the ends' IPv4 addresses once Addresses
	// gave them some.
	hostAddr, peerAddr netip.Addr
}

// NewPair creates a uniquely named pair and removes it, and its namespace,
// when the test ends, whether it passed or not.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	return NewPairIndexed(t, 0)
}

// NewPairIndexed creates a pair whose host end has the interface index
// index (0: any), as `ip link add ... index` does.
func NewPairIndexed(t testing.TB, index int) *Pair {
	t.Helper()
	Privileged(t)
	id := randomID()
	p := &Pair{Host: "xdp" + id + "h", Peer: "xdp" + id + "p", ns: newNamespace(t), sock: -1, hostSock: -1, wantIndex: index}
	t.Cleanup(func() { deleteLink(p.Host) })
	p.create(t)
	if err := p.openSocket(); err != nil {
		t.Fatalf("opening a packet socket on %q: %v", p.Peer, err)
	}
	t.Cleanup(func() { unix.Close(p.sock) })
	return p
}

// create makes the veth pair, IPv6 off on the host end, both ends up and
// ready to send, and looks up both ends' indexes.
func (p *Pair) create(t testing.TB) {
	t.Helper()
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: p.Host, Index: p.wantIndex},
		PeerName:      p.Peer,
		PeerNamespace: netlink.NsFd(p.ns.fd),
	}
	if err := netlink.LinkAdd(veth); err != nil {
		t.Fatalf("creating veth pair %q/%q: %v", p.Host, p.Peer, err)
	}
	if err := writeSysctls(map[string]string{"net/ipv6/conf/" + p.Host + "/disable_ipv6": "1"}); err != nil {
		t.Fatalf("disabling IPv6 on %q: %v", p.Host, err)
	}
	host, err := netlink.LinkByName(p.Host)
	if err == nil {
		err = netlink.LinkSetUp(host)
	}
	if err != nil {
		t.Fatalf("setting %q up: %v", p.Host, err)
	}
	p.HostIndex = host.Attrs().Index
	h, err := p.ns.handle()
	if err != nil {
		t.Fatalf("opening netlink in the peer's namespace: %v", err)
	}
	defer h.Close()
	peer, err := h.LinkByName(p.Peer)
	if err == nil {
		err = h.LinkSetUp(peer)
	}
	if err != nil {
		t.Fatalf("setting %q up in its namespace: %v", p.Peer, err)
	}
	p.peerIndex = peer.Attrs().Index
	if err := waitOperUp(p.Host); err != nil {
		t.Fatalf("waiting for %q to be ready to send: %v", p.Host, err)
	}
}

// waitOperUp waits until the named interface's operational state is up.
//
// The host end comes up before its peer, without carrier, so its transmit
// queue stays on the noop qdisc, which drops every frame while sendmsg
// reports it sent, until the kernel's link watch has seen the carrier come
// on: a work item that runs some time after the peer came up, late on a
// busy host. The link watch sets the operational state up and activates
// the queue in one go, under the RTNL lock, and a request for one link
// (RTM_GETLINK) runs the link's pending link watch first on current
// kernels: once such a request sees the state up, the queue is active.
func waitOperUp(name string) error {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		if l.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("operational state %v after 5 s", l.Attrs().OperState)
		}
	}
}

// openSocket opens the injecting socket inside the peer's namespace: a
// socket keeps the namespace it was made in. Protocol 0: it only sends and
// never queues received frames.
func (p *Pair) openSocket() error {
	return p.ns.do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		p.sock = fd
		return nil
	})
}

// InPeerNamespace runs f on a thread inside the peer's network namespace,
// for traffic that must come from the peer's side (a TCP client, say).
func (p *Pair) InPeerNamespace(f func() error) error {
	return p.ns.do(f)
}

// Send sends each frame, as it is, out of the host end: each leaves Host
// once, through its TC egress hook, and arrives on the peer.
func (p *Pair) Send(t testing.TB, frames ...[]byte) {
	t.Helper()
	p.openHostSocket(t)
	addr := &unix.SockaddrLinklayer{Ifindex: p.HostIndex}
	for i, f := range frames {
		if err := unix.Sendto(p.hostSock, f, 0, addr); err != nil {
			t.Fatalf("sending frame %d (%d bytes) out of %q: %v", i, len(f), p.Host, err)
		}
	}
}

// openHostSocket opens the socket that sends out of Host, once; it stays
// open across Recreate, as the peer's does, and closes when the test ends.
func (p *Pair) openHostSocket(t testing.TB) {
	t.Helper()
	if p.hostSock >= 0 {
		return
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening a packet socket for %q: %v", p.Host, err)
	}
	p.hostSock = fd
	t.Cleanup(func() { unix.Close(fd) })
}

// Inject sends each frame, as it is, from the peer; each arrives on Host once.
func (p *Pair) Inject(t testing.TB, frames ...[]byte) {
	t.Helper()
	addr := &unix.SockaddrLinklayer{Ifindex: p.peerIndex}
	for i, f := range frames {
		if err := unix.Sendto(p.sock, f, 0, addr); err != nil {
			t.Fatalf("injecting frame %d (%d bytes) from %q: %v", i, len(f), p.Peer, err)
		}
	}
}

// XDPProgramID returns the id of the XDP program attached to the named
// interface in any mode, or 0 when none is.
func XDPProgramID(t testing.TB, iface string) uint32 {
	t.Helper()
	if x := linkByName(t, iface).Attrs().Xdp; x != nil && x.Attached {
		return x.ProgId
	}
	return 0
}

func linkByName(t testing.TB, iface string) netlink.Link {
	t.Helper()
	l, err := netlink.LinkByName(iface)
	if err != nil {
		t.Fatalf("looking up %q: %v", iface, err)
	}
	return l
}

// RequireNoXDP fails t if any of the named interfaces has an XDP program.
//
// It allows a moment for the detach: a child process forked by this one
// (exec.Command) holds copies of every descriptor until it execs, so the
// kernel may free a closed link a few microseconds after Close returns.
func RequireNoXDP(t testing.TB, ifaces ...string) {
	t.Helper()
	for _, i := range ifaces {
		waitGone(t, func() int { return int(XDPProgramID(t, i)) }, "XDP program on "+i)
	}
}

// waitGone waits up to 2 s for count to return 0, and fails t otherwise.
func waitGone(t testing.TB, count func() int, what string) {
	t.Helper()
	n := count()
	for deadline := time.Now().Add(2 * time.Second); n != 0 && time.Now().Before(deadline); n = count() {
		time.Sleep(5 * time.Millisecond)
	}
	if n != 0 {
		t.Errorf("still there: %s (%d)", what, n)
	}
}

// SetMTU sets the MTU of both ends.
func (p *Pair) SetMTU(t testing.TB, mtu int) {
	t.Helper()
	if err := netlink.LinkSetMTU(linkByName(t, p.Host), mtu); err != nil {
		t.Fatalf("setting the MTU of %q to %d: %v", p.Host, mtu, err)
	}
	h, err := p.ns.handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	peer, err := h.LinkByName(p.Peer)
	if err == nil {
		err = h.LinkSetMTU(peer, mtu)
	}
	if err != nil {
		t.Fatalf("setting the MTU of %q to %d: %v", p.Peer, mtu, err)
	}
}

// DeleteHost deletes the host end, and with it the pair, while the test
// runs: an interface that disappears under the counter.
func (p *Pair) DeleteHost(t testing.TB) {
	t.Helper()
	if err := deleteLink(p.Host); err != nil {
		t.Fatalf("deleting %q: %v", p.Host, err)
	}
}

// deleteLink deletes the named interface of the test's namespace; one that
// is gone already is no error, so that cleanups may run after a test
// deleted it.
func deleteLink(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	return netlink.LinkDel(l)
}

func randomID() string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	return hex.EncodeToString(b)
}

// NewGenericOnly creates a uniquely named interface whose driver has no
// native XDP (a bridge without ports), up, with IPv6 off, in the test's
// namespace, and removes it when the test ends. Nothing arrives on it. A
// bridge rather than an ifb: loading the ifb module makes ifb0 and ifb1,
// which no test would remove.
func NewGenericOnly(t testing.TB) string {
	t.Helper()
	Privileged(t)
	name := "xdp" + randomID() + "i"
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
	if err := netlink.LinkAdd(br); err != nil {
		t.Fatalf("creating bridge %q: %v", name, err)
	}
	t.Cleanup(func() { deleteLink(name) })
	if err := writeSysctls(map[string]string{"net/ipv6/conf/" + name + "/disable_ipv6": "1"}); err != nil {
		t.Fatalf("disabling IPv6 on %q: %v", name, err)
	}
	if err := netlink.LinkSetUp(br); err != nil {
		t.Fatalf("setting %q up: %v", name, err)
	}
	return name
}
