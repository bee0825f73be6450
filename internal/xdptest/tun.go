//go:build linux

package xdptest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Tun is a tun device (IFF_TUN, IFF_NO_PI): an interface without a link
// layer, whose packets start at the IP header, as on WireGuard, ipip or
// ppp devices. It sits in a network namespace of the test's own, so that
// nothing the test writes into it can reach any other network: code that
// counts on it runs inside that namespace (Do).
//
// The test holds the device's file descriptor: packets written to it
// arrive on the interface (the kernel receives them), and packets the
// kernel sends out of the interface are read from it. The device goes
// with the descriptor, whatever way the test ends.
type Tun struct {
	Name  string
	Index int
	ns    *namespace
	fd    int
	// raw4 and raw6 are raw sockets (IPPROTO_RAW, the IP header
	// included) opened in the namespace, for Route.
	raw4, raw6 int
	// sock is an AF_PACKET socket opened in the namespace, for Send.
	sock int
}

// Routes of the packets that Route sends: the benchmarking ranges that
// crafted packets are addressed in.
var (
	tunRoute4 = &net.IPNet{IP: net.IP(dstIPv4).Mask(net.CIDRMask(24, 32)), Mask: net.CIDRMask(24, 32)}
	tunRoute6 = &net.IPNet{IP: net.IP(dstIPv6).Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}
)

// NewTun creates a uniquely named tun device, up, in a new namespace, with
// routes through it to the addresses of crafted packets (198.18.0.0/24,
// 2001:2::/64), and removes it with its namespace when the test ends.
//
// The namespace forwards nothing, and the device's addresses are the
// crafted packets' sources: a packet written to it is counted at its
// receive hooks and then dropped, never answered, so that the device
// transmits only what the test sends. IPv6 is on for the device alone,
// without a link-local address, so that it never sends router
// solicitations either.
func NewTun(t testing.TB) *Tun {
	t.Helper()
	Privileged(t)
	tn := &Tun{Name: "xdp" + randomID() + "t", ns: newNamespace(t), fd: -1, raw4: -1, raw6: -1, sock: -1}
	t.Cleanup(tn.close)
	if err := tn.ns.do(tn.create); err != nil {
		t.Fatalf("creating tun device %q: %v", tn.Name, err)
	}
	return tn
}

// ifreqFlags is struct ifreq with its ifr_flags member.
type ifreqFlags struct {
	name  [unix.IFNAMSIZ]byte
	flags uint16
	_     [22]byte
}

// create runs inside the namespace.
func (tn *Tun) create() error {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	tn.fd = fd
	var ifr ifreqFlags
	copy(ifr.name[:], tn.Name)
	ifr.flags = unix.IFF_TUN | unix.IFF_NO_PI
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&ifr))); errno != 0 {
		return fmt.Errorf("TUNSETIFF: %w", errno)
	}
	// Before the device comes up: no link-local address, so no router
	// solicitation; tun is IFF_NOARP, so no address joins a
	// solicited-node group and no MLD report goes out either.
	if err := writeSysctls(map[string]string{
		"net/ipv6/conf/" + tn.Name + "/addr_gen_mode": "1",
		"net/ipv6/conf/" + tn.Name + "/disable_ipv6":  "0",
	}); err != nil {
		return err
	}
	l, err := netlink.LinkByName(tn.Name)
	if err != nil {
		return err
	}
	tn.Index = l.Attrs().Index
	if err := netlink.LinkSetUp(l); err != nil {
		return err
	}
	// The crafted packets' sources: the kernel routes IPv6 only from an
	// address of its own. Packets written into the tun come from them
	// too, so it drops those as martians, without an answer.
	for _, a := range []*net.IPNet{{IP: srcIPv4, Mask: net.CIDRMask(32, 32)}, {IP: srcIPv6, Mask: net.CIDRMask(128, 128)}} {
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: a, Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("adding %v: %w", a, err)
		}
	}
	for _, dst := range []*net.IPNet{tunRoute4, tunRoute6} {
		if err := netlink.RouteAdd(&netlink.Route{LinkIndex: tn.Index, Dst: dst, Scope: netlink.SCOPE_LINK}); err != nil {
			return fmt.Errorf("adding a route to %v: %w", dst, err)
		}
	}
	if tn.raw4, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
		return err
	}
	if tn.raw6, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
		return err
	}
	// Protocol 0: it only sends, and never queues what it receives.
	tn.sock, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	return err
}

func (tn *Tun) close() {
	for _, fd := range []int{tn.sock, tn.raw6, tn.raw4, tn.fd} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// Do runs f on a thread inside the tun's namespace: a datapath that counts
// on the tun must be loaded and attached there, where its name and index
// are the tun's.
func (tn *Tun) Do(f func() error) error {
	return tn.ns.do(f)
}

// Write writes each packet into the tun: the kernel receives it on the
// interface, where its receive hooks see it, and then drops it. Each must
// start with an IPv4 or IPv6 version nibble, which tells the kernel its
// protocol (IFF_NO_PI).
func (tn *Tun) Write(t testing.TB, packets ...[]byte) {
	t.Helper()
	for i, p := range packets {
		if _, err := unix.Write(tn.fd, p); err != nil {
			t.Fatalf("writing packet %d (%d bytes) into %q: %v", i, len(p), tn.Name, err)
		}
	}
}

// Route sends each packet, a whole IPv4 or IPv6 packet, through a raw
// socket to its destination address: the kernel routes it out through the
// tun, as it does its own traffic. The kernel refuses packets whose header
// is malformed or cut short; Send sends those.
func (tn *Tun) Route(t testing.TB, packets ...[]byte) {
	t.Helper()
	for i, p := range packets {
		var err error
		switch {
		case len(p) >= 20 && p[0]>>4 == 4:
			to := &unix.SockaddrInet4{}
			copy(to.Addr[:], p[16:20])
			err = unix.Sendto(tn.raw4, p, 0, to)
		case len(p) >= 40 && p[0]>>4 == 6:
			to := &unix.SockaddrInet6{}
			copy(to.Addr[:], p[24:40])
			err = unix.Sendto(tn.raw6, p, 0, to)
		default:
			err = errors.New("not a whole IPv4 or IPv6 header")
		}
		if err != nil {
			t.Fatalf("routing packet %d (%d bytes) out of %q: %v", i, len(p), tn.Name, err)
		}
	}
}

// Send sends each packet, as it is, out of the tun through a packet
// socket: it leaves through the interface's transmit hook once, whatever
// it holds, as a packet of protocol proto (an ethertype), or, with proto
// 0, of the protocol its version nibble names (IPv4 or IPv6).
func (tn *Tun) Send(t testing.TB, proto uint16, packets ...[]byte) {
	t.Helper()
	for i, p := range packets {
		pr := proto
		if pr == 0 && len(p) > 0 && p[0]>>4 == 4 {
			pr = unix.ETH_P_IP
		} else if pr == 0 && len(p) > 0 && p[0]>>4 == 6 {
			pr = unix.ETH_P_IPV6
		}
		to := &unix.SockaddrLinklayer{Ifindex: tn.Index, Protocol: htons(pr)}
		if err := unix.Sendto(tn.sock, p, 0, to); err != nil {
			t.Fatalf("sending packet %d (%d bytes) out of %q: %v", i, len(p), tn.Name, err)
		}
	}
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

// Read reads what the kernel sent out of the tun until n packets came or
// wait passed without one, and then waits a moment more, so that a packet
// beyond n shows too. It returns every packet read.
func (tn *Tun) Read(t testing.TB, n int, wait time.Duration) [][]byte {
	t.Helper()
	var got [][]byte
	buf := make([]byte, 65536)
	for {
		timeout := wait
		if len(got) >= n {
			timeout = 50 * time.Millisecond
		}
		fds := []unix.PollFd{{Fd: int32(tn.fd), Events: unix.POLLIN}}
		k, err := unix.Poll(fds, int(timeout.Milliseconds()))
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("polling %q: %v", tn.Name, err)
		}
		if k == 0 {
			return got
		}
		m, err := unix.Read(tn.fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			continue
		}
		if err != nil {
			t.Fatalf("reading from %q: %v", tn.Name, err)
		}
		got = append(got, append([]byte(nil), buf[:m]...))
	}
}
