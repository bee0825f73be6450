//go:build linux

package xdptest

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestAddresses: a pair's addresses are the first two of a /30 of its own
// in 198.18.0.0/15, on its ends, the same every time they are asked for.
func TestAddresses(t *testing.T) {
	p := NewPair(t)
	host, peer := p.Addresses(t)
	bench := netip.MustParsePrefix("198.18.0.0/15")
	block := netip.PrefixFrom(host, 30).Masked()
	if !bench.Contains(host) || host != block.Addr().Next() || peer != host.Next() {
		t.Errorf("host %v, peer %v: want .1 and .2 of a /30 in %v", host, peer, bench)
	}
	if h, pe := p.Addresses(t); h != host || pe != peer {
		t.Errorf("asked again: %v and %v, want %v and %v", h, pe, host, peer)
	}
	var addrs []netlink.Addr
	for try := 0; ; try++ { // a dump, which other tests' addresses may interrupt
		var err error
		if addrs, err = netlink.AddrList(linkByName(t, p.Host), netlink.FAMILY_V4); err == nil {
			break
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) || try == 100 {
			t.Fatal(err)
		}
	}
	if len(addrs) != 1 || addrs[0].IPNet.String() != netip.PrefixFrom(host, 30).String() {
		t.Errorf("%q has %v, want %v/30", p.Host, addrs, host)
	}
}

// TestStream: a stream each way reports what each end's TCP sent,
// consistent with the bytes streamed: the sender's segments carry at
// least size/MSS of payload, the receiver's only acknowledge.
func TestStream(t *testing.T) {
	const size = 4 << 20
	// A 1500-byte MTU leaves at most 1460 bytes of payload per segment.
	const maxMSS = 1500 - 20 - 20
	for _, out := range []bool{true, false} {
		p := NewPair(t)
		r := p.Stream(t, size, out)
		s, rc := r.Sender, r.Receiver
		t.Logf("out %v: took %v; sender %+v; receiver %+v", out, r.Took, s, rc)
		if s.Segments < size/maxMSS || s.PayloadBytes < size {
			t.Errorf("out %v: the sender sent %d segments, %d payload bytes, for %d bytes", out, s.Segments, s.PayloadBytes, size)
		}
		if s.Retransmitted > s.Segments || s.RetransBytes > s.PayloadBytes || s.PayloadBytes-s.RetransBytes != size {
			t.Errorf("out %v: sent again %d segments, %d bytes, of %d and %d; want the payload less those to be %d",
				out, s.Retransmitted, s.RetransBytes, s.Segments, s.PayloadBytes, size)
		}
		// The SYN-ACK, an acknowledgement, the FIN at least.
		if rc.Segments < 3 || rc.PayloadBytes != 0 {
			t.Errorf("out %v: the receiver sent %d segments, %d payload bytes; want 3 or more, and no payload", out, rc.Segments, rc.PayloadBytes)
		}
		if r.Took <= 0 {
			t.Errorf("out %v: took %v", out, r.Took)
		}
	}
}

// ethtool commands of linux/ethtool.h that read TCP and generic
// segmentation offload.
const (
	ethtoolGTSO = 0x1e
	ethtoolGGSO = 0x23
)

// offloads reads TSO and GSO of the named interface, in the namespace of
// the calling thread.
func offloads(name string) (tso, gso bool, err error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, false, err
	}
	defer unix.Close(fd)
	get := func(cmd uint32) (bool, error) {
		v := ethtoolValue{cmd: cmd}
		err := ethtool(fd, name, &v)
		return v.data != 0, err
	}
	if tso, err = get(ethtoolGTSO); err != nil {
		return false, false, err
	}
	gso, err = get(ethtoolGGSO)
	return tso, gso, err
}

// TestSetSegmentation: SetSegmentation turns TSO and GSO off and on
// again, on the host end or on the peer, and leaves the other end alone.
func TestSetSegmentation(t *testing.T) {
	p := NewPair(t)
	read := func(peer bool) [2]bool {
		t.Helper()
		var tso, gso bool
		var err error
		if peer {
			err = p.InPeerNamespace(func() (err error) {
				tso, gso, err = offloads(p.Peer)
				return err
			})
		} else {
			tso, gso, err = offloads(p.Host)
		}
		if err != nil {
			t.Fatal(err)
		}
		return [2]bool{tso, gso}
	}
	on, off := [2]bool{true, true}, [2]bool{false, false}
	if read(false) != on || read(true) != on {
		t.Fatalf("a new pair's offloads: host %v, peer %v; want TSO and GSO on", read(false), read(true))
	}
	p.SetSegmentation(t, false, false)
	if read(false) != off || read(true) != on {
		t.Errorf("host's off: host %v, peer %v", read(false), read(true))
	}
	p.SetSegmentation(t, true, false)
	if read(true) != off {
		t.Errorf("peer's off: peer %v", read(true))
	}
	p.SetSegmentation(t, false, true)
	if read(false) != on || read(true) != off {
		t.Errorf("host's on again: host %v, peer %v", read(false), read(true))
	}
}
