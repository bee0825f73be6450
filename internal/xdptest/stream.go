//go:build linux

package xdptest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Addresses gives the pair IPv4 addresses of a /30 of its own in
// 198.18.0.0/15, the benchmarking range: the host end .1, the peer .2 of
// the block. It is for tests that stream over the pair: the stack then
// sends ARP on it too, so they compare TCP's counts only.
func (p *Pair) Addresses(t testing.TB) (host, peer netip.Addr) {
	t.Helper()
	if !p.hostAddr.IsValid() {
		p.hostAddr, p.peerAddr = addresses(t, p.ns, p.Host, p.Peer)
	}
	return p.hostAddr, p.peerAddr
}

// addresses gives the interface hostName of the test's namespace and
// peerName of ns the addresses .1 and .2 of a /30 of their own in
// 198.18.0.0/15.
func addresses(t testing.TB, ns *namespace, hostName, peerName string) (host, peer netip.Addr) {
	t.Helper()
	for range 16 {
		var b [2]byte
		if _, err := rand.Read(b[:]); err != nil {
			t.Fatal(err)
		}
		// 2^15 blocks of four addresses in the /15.
		block := uint32(binary.BigEndian.Uint16(b[:])&0x7fff) * 4
		base := uint32(198)<<24 | uint32(18)<<16 + block
		h, pe := addr4(base+1), addr4(base+2)
		err := netlink.AddrAdd(linkByName(t, hostName), &netlink.Addr{IPNet: ipNet(h, 30)})
		if errors.Is(err, unix.EEXIST) {
			continue // another test's block
		}
		if err != nil {
			t.Fatalf("adding %s to %q: %v", h, hostName, err)
		}
		hdl, err := ns.handle()
		if err != nil {
			t.Fatal(err)
		}
		peerLink, err := hdl.LinkByName(peerName)
		if err == nil {
			err = hdl.AddrAdd(peerLink, &netlink.Addr{IPNet: ipNet(pe, 30)})
		}
		hdl.Close()
		if err != nil {
			t.Fatalf("adding %s to %q: %v", pe, peerName, err)
		}
		return h, pe
	}
	t.Fatal("no free /30 in 198.18.0.0/15 after 16 tries")
	return netip.Addr{}, netip.Addr{}
}

func addr4(v uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

func ipNet(a netip.Addr, bits int) *net.IPNet {
	return &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(bits, 32)}
}

// StreamResult is what a Stream measured: how long the transfer took, from
// the first byte written to the last read, and what each end's TCP says it
// sent, the kernel's own count to hold a counter's against.
type StreamResult struct {
	Took             time.Duration
	Sender, Receiver TCPSent
}

// TCPSent is what one end of a connection sent, from its tcp_info.
type TCPSent struct {
	Segments      uint64 // every segment, the handshake's and the FIN's too
	DataSegments  uint64 // the segments that carried data, retransmissions included
	PayloadBytes  uint64 // data bytes, retransmissions included
	Retransmitted uint64 // segments sent again
	RetransBytes  uint64 // payload bytes sent again
	MSS           uint64 // the largest payload of a segment
	// HeaderBytes is what every segment but the SYN carries besides its
	// payload on the wire: Ethernet, IPv4, and TCP with its timestamp
	// option when the connection uses it.
	HeaderBytes uint64
}

// Stream sends size bytes over one TCP connection across the pair, out of
// the host end (from the test's namespace to the peer's) when out, into it
// otherwise. It writes whole segments: the stack then cuts the same
// segments whether it or the device segments, and the wire carries the
// same packets with offloads on or off. Both ends shut the connection down
// and wait until every segment is acknowledged, so that nothing of it is
// still in flight when Stream returns. The pair needs Addresses.
func (p *Pair) Stream(t testing.TB, size int, out bool) StreamResult {
	t.Helper()
	host, peer := p.Addresses(t)
	return stream(t, p.ns, host, peer, size, out)
}

// stream is Stream between the address host of the test's namespace and
// peer of ns.
func stream(t testing.TB, ns *namespace, host, peer netip.Addr, size int, out bool) StreamResult {
	t.Helper()
	server, client := ns.do, func(f func() error) error { return f() }
	serverAddr := peer
	if !out {
		server, client = client, ns.do
		serverAddr = host
	}
	var ln net.Listener
	if err := server(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(serverAddr, 0).String())
		return err
	}); err != nil {
		t.Fatalf("listening on %s: %v", serverAddr, err)
	}
	defer ln.Close()
	type received struct {
		conn *net.TCPConn
		took time.Duration
		err  error
	}
	got := make(chan received, 1)
	started := make(chan time.Time, 1)
	// The writer and the reader each on a thread of its own, pinned to a
	// CPU of its own where there are two: which CPUs the scheduler gives
	// them changes a stream's throughput by tens of percent, more than the
	// benchmarks that compare streams look for.
	cpus := streamCPUs()
	go func() {
		pin(cpus, 1)
		c, err := ln.Accept()
		if err != nil {
			got <- received{err: err}
			return
		}
		conn := c.(*net.TCPConn)
		n, err := io.Copy(io.Discard, conn)
		r := received{conn: conn, took: time.Since(<-started), err: err}
		if err == nil && n != int64(size) {
			r.err = fmt.Errorf("received %d bytes of %d", n, size)
		}
		if r.err == nil {
			r.err = conn.CloseWrite()
		}
		got <- r
	}()
	var c net.Conn
	if err := client(func() (err error) {
		c, err = net.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatalf("connecting to %s: %v", ln.Addr(), err)
	}
	conn := c.(*net.TCPConn)
	defer conn.Close()
	mss, err := tcpOption(conn, unix.TCP_MAXSEG)
	if err != nil {
		t.Fatalf("reading the connection's MSS: %v", err)
	}
	wrote := make(chan error, 1)
	go func() {
		pin(cpus, 0)
		buf := make([]byte, (64<<10)/mss*mss)
		started <- time.Now()
		for sent := 0; sent < size; {
			n, err := conn.Write(buf[:min(len(buf), size-sent)])
			if err != nil {
				wrote <- fmt.Errorf("streaming: %w after %d bytes", err, sent)
				return
			}
			sent += n
		}
		wrote <- nil
	}()
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
	if err := conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.conn != nil {
		defer r.conn.Close()
	}
	if r.err != nil {
		t.Fatalf("receiving the stream: %v", r.err)
	}
	if _, err := io.Copy(io.Discard, conn); err != nil {
		t.Fatalf("waiting for the receiver's FIN: %v", err)
	}
	res := StreamResult{Took: r.took}
	// Once both FINs are acknowledged both ends are closed (the sender
	// has moved on to TIME_WAIT), and their counts are final.
	deadline := time.Now().Add(5 * time.Second)
	for _, e := range []struct {
		conn *net.TCPConn
		sent *TCPSent
	}{{conn, &res.Sender}, {r.conn, &res.Receiver}} {
		for {
			info, err := tcpInfo(e.conn)
			if err != nil {
				t.Fatalf("reading tcp_info: %v", err)
			}
			if info.State == tcpClose {
				*e.sent = TCPSent{
					Segments:      uint64(info.Segs_out),
					DataSegments:  uint64(info.Data_segs_out),
					PayloadBytes:  info.Bytes_sent,
					Retransmitted: uint64(info.Total_retrans),
					RetransBytes:  info.Bytes_retrans,
					MSS:           uint64(info.Snd_mss),
					HeaderBytes:   14 + 20 + 20,
				}
				if info.Options&tcpiOptTimestamps != 0 {
					e.sent.HeaderBytes += 12 // 10, padded
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the connection is still in TCP state %d after 5s", info.State)
			}
			time.Sleep(time.Millisecond)
		}
	}
	// The listener answered the SYN before the receiver's socket existed:
	// its tcp_info does not count the SYN-ACK.
	res.Receiver.Segments++
	return res
}

// tcpClose is TCP_CLOSE of the kernel's TCP states; tcpiOptTimestamps
// is TCPI_OPT_TIMESTAMPS of tcp_info's options.
const (
	tcpClose          = 7
	tcpiOptTimestamps = 1
)

// streamCPUs returns two CPUs this process may run on, or none.
func streamCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var cpus []int
	for i := 0; i < len(set)*64 && len(cpus) < 2; i++ {
		if set.IsSet(i) {
			cpus = append(cpus, i)
		}
	}
	if len(cpus) < 2 {
		return nil
	}
	return cpus
}

// pin locks the calling goroutine to its thread and that thread to
// cpus[i], if there are cpus. The goroutine must not unlock: its thread,
// with the changed affinity, then ends with it.
func pin(cpus []int, i int) {
	runtime.LockOSThread()
	if cpus == nil {
		return
	}
	var set unix.CPUSet
	set.Set(cpus[i])
	_ = unix.SchedSetaffinity(0, &set) // only less steady without
}

func tcpInfo(c *net.TCPConn) (info *unix.TCPInfo, err error) {
	err = control(c, func(fd int) (err error) {
		info, err = unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		return err
	})
	return info, err
}

func tcpOption(c *net.TCPConn, opt int) (v int, err error) {
	err = control(c, func(fd int) (err error) {
		v, err = unix.GetsockoptInt(fd, unix.IPPROTO_TCP, opt)
		return err
	})
	return v, err
}

func control(c *net.TCPConn, f func(fd int) error) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := raw.Control(func(fd uintptr) { ferr = f(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// ethtool commands of linux/ethtool.h: set TCP segmentation offload and
// generic segmentation offload.
const (
	ethtoolSTSO = 0x1f
	ethtoolSGSO = 0x24
)

// SetSegmentation turns TSO and GSO on or off, as `ethtool -K dev tso off
// gso off` does, on the host end, or on the peer (peer true). Without
// them, TCP hands the device one skb per segment; with them, one per
// burst, which the device (or the stack, late) segments.
func (p *Pair) SetSegmentation(t testing.TB, peer, on bool) {
	t.Helper()
	name, ns := p.Host, (*namespace)(nil)
	if peer {
		name, ns = p.Peer, p.ns
	}
	setSegmentation(t, ns, name, on)
}

// setSegmentation turns TSO and GSO of the named interface on or off, in
// ns, or in the test's namespace with ns nil.
func setSegmentation(t testing.TB, ns *namespace, name string, on bool) {
	t.Helper()
	do := func(f func() error) error { return f() }
	if ns != nil {
		do = ns.do
	}
	err := do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, cmd := range []uint32{ethtoolSTSO, ethtoolSGSO} {
			if err := ethtoolSet(fd, name, cmd, on); err != nil {
				return fmt.Errorf("ethtool command %#x: %w", cmd, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("turning segmentation offloads of %q %v: %v", name, on, err)
	}
}

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd, data uint32
}

// ifreqData is struct ifreq with its ifr_data member.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte
}

func ethtoolSet(fd int, name string, cmd uint32, on bool) error {
	v := ethtoolValue{cmd: cmd}
	if on {
		v.data = 1
	}
	return ethtool(fd, name, &v)
}

// ethtool runs the ethtool command in v on the named interface, through
// fd, and leaves the answer in v.
func ethtool(fd int, name string, v *ethtoolValue) error {
	var ifr ifreqData
	copy(ifr.name[:], name)
	ifr.data = uintptr(unsafe.Pointer(v))
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(v)
	if errno != 0 {
		return errno
	}
	return nil
}
