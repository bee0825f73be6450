package xdptest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
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
	NS        string
	sock      int // AF_PACKET socket bound to Peer, opened inside NS
	peerIndex int
}

// NewPair creates a uniquely named pair and removes it, and its namespace,
// when the test ends, whether it passed or not.
func NewPair(t testing.TB) *Pair {
	t.Helper()
	Privileged(t)
	id := randomID()
	p := &Pair{Host: "xdp" + id + "h", Peer: "xdp" + id + "p", NS: "xdpt-" + id, sock: -1}

	run(t, "ip", "netns", "add", p.NS)
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", p.NS).Run() })
	// Interfaces created in the namespace from now on start with IPv6 off,
	// so the peer never sends router solicitations or MLD reports.
	run(t, "ip", "netns", "exec", p.NS, "sysctl", "-q", "-w",
		"net.ipv6.conf.default.disable_ipv6=1", "net.ipv6.conf.all.disable_ipv6=1")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", p.Host).Run() })
	p.create(t)
	if err := p.openSocket(); err != nil {
		t.Fatalf("opening a packet socket on %q in %q: %v", p.Peer, p.NS, err)
	}
	t.Cleanup(func() { unix.Close(p.sock) })
	return p
}

// create makes the veth pair, IPv6 off on the host end, both ends up.
func (p *Pair) create(t testing.TB) {
	t.Helper()
	run(t, "ip", "link", "add", p.Host, "type", "veth", "peer", "name", p.Peer, "netns", p.NS)
	if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+p.Host+"/disable_ipv6", []byte("1"), 0o644); err != nil {
		t.Fatalf("disabling IPv6 on %q: %v", p.Host, err)
	}
	run(t, "ip", "link", "set", p.Host, "up")
	run(t, "ip", "-n", p.NS, "link", "set", p.Peer, "up")
	host, err := net.InterfaceByName(p.Host)
	if err != nil {
		t.Fatalf("looking up %q: %v", p.Host, err)
	}
	p.HostIndex = host.Index
}

// openSocket opens the injecting socket on a thread that enters the peer's
// namespace and is then thrown away: a socket keeps the namespace it was
// made in, and no goroutine ever runs on a thread left in the wrong one.
func (p *Pair) openSocket() error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		errc <- func() error {
			ns, err := netns.GetFromName(p.NS)
			if err != nil {
				return err
			}
			defer ns.Close()
			if err := netns.Set(ns); err != nil {
				return err
			}
			peer, err := net.InterfaceByName(p.Peer)
			if err != nil {
				return err
			}
			// Protocol 0: the socket only sends and never queues received frames.
			fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			p.sock, p.peerIndex = fd, peer.Index
			return nil
		}()
	}()
	return <-errc
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
	l, err := netlink.LinkByName(iface)
	if err != nil {
		t.Fatalf("looking up %q: %v", iface, err)
	}
	if x := l.Attrs().Xdp; x != nil && x.Attached {
		return x.ProgId
	}
	return 0
}

// RequireNoXDP fails t if any of the named interfaces has an XDP program.
//
// It allows a moment for the detach: a child process forked by this one
// (exec.Command) holds copies of every descriptor until it execs, so the
// kernel may free a closed link a few microseconds after Close returns.
func RequireNoXDP(t testing.TB, ifaces ...string) {
	t.Helper()
	for _, i := range ifaces {
		id := XDPProgramID(t, i)
		for deadline := time.Now().Add(2 * time.Second); id != 0 && time.Now().Before(deadline); id = XDPProgramID(t, i) {
			time.Sleep(5 * time.Millisecond)
		}
		if id != 0 {
			t.Errorf("interface %q still has XDP program id %d attached", i, id)
		}
	}
}

// DeleteHost deletes the host end, and with it the pair, while the test
// runs: an interface that disappears under the counter.
func (p *Pair) DeleteHost(t testing.TB) {
	t.Helper()
	run(t, "ip", "link", "delete", p.Host)
}

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func randomID() string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("reading random bytes: %v", err))
	}
	return hex.EncodeToString(b)
}

// NewGenericOnly creates a uniquely named interface whose driver has no
// native XDP (an ifb), up, in the test's namespace, and removes it when the
// test ends. Nothing arrives on it.
func NewGenericOnly(t testing.TB) string {
	t.Helper()
	Privileged(t)
	name := "xdp" + randomID() + "i"
	run(t, "ip", "link", "add", name, "type", "ifb")
	t.Cleanup(func() { _ = exec.Command("ip", "link", "delete", name).Run() })
	run(t, "ip", "link", "set", name, "up")
	return name
}
