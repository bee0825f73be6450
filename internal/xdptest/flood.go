//go:build linux

package xdptest

import (
	"errors"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr, which x/sys/unix does not define.
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

// floodBatch is how many frames one sendmmsg call sends: enough to make
// the syscall's cost small against the frames', small enough to notice a
// vanished peer quickly.
const floodBatch = 64

// Flood sends frame n times from the peer as fast as it can, with
// sendmmsg, and returns how many the kernel took. It stops early, without
// failing t, when the peer disappears (its pair deleted under the flood:
// ENXIO or ENODEV), so that tests can delete interfaces mid-flood. A full
// transmit queue (ENOBUFS) is waited out. It may run on any goroutine, but
// not alongside Recreate.
func (p *Pair) Flood(t testing.TB, frame []byte, n int) (sent int) {
	t.Helper()

	sent, _ = flood(t, p.sock, p.peerIndex, p.Peer, frame, n)
	return sent
}

// FloodOut sends frame n times out of the host end, through its TC egress
// hook, as Flood sends from the peer. The veth refuses a frame (ENOBUFS)
// when the peer's backlog is full, after the frame went through the egress
// hook; FloodOut sends it again, and returns how many times that may have
// happened: the hook saw at most sent+refused frames. It opens the host's socket on
// first use; Send nothing once on the test's goroutine before flooding from
// others.
func (p *Pair) FloodOut(t testing.TB, frame []byte, n int) (sent, refused int) {
	t.Helper()
	p.openHostSocket(t)
	return flood(t, p.hostSock, p.HostIndex, p.Host, frame, n)
}

func flood(t testing.TB, sock, ifindex int, name string, frame []byte, n int) (sent, refused int) {
	t.Helper()
	if len(frame) == 0 {
		t.Errorf("flooding %q: empty frame", name)
		return 0, 0
	}
	addr := unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Ifindex: int32(ifindex)}
	iov := unix.Iovec{Base: &frame[0]}
	iov.SetLen(len(frame))
	msgs := make([]mmsghdr, floodBatch)
	for i := range msgs {
		msgs[i].hdr.Name = (*byte)(unsafe.Pointer(&addr))
		msgs[i].hdr.Namelen = unix.SizeofSockaddrLinklayer
		msgs[i].hdr.Iov = &iov
		msgs[i].hdr.SetIovlen(1)
	}
	for sent < n {
		batch := min(floodBatch, n-sent)
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(sock), uintptr(unsafe.Pointer(&msgs[0])), uintptr(batch), 0, 0, 0)
		if errno == 0 {
			sent += int(r)
			if int(r) < batch {
				// Frame r failed, with an error sendmmsg does not return:
				// perhaps refused after the egress hook, and sent again.
				refused++
			}
			continue
		}
		switch {
		case errors.Is(errno, unix.ENXIO), errors.Is(errno, unix.ENODEV), errors.Is(errno, unix.ENETDOWN):
			return sent, refused
		case errors.Is(errno, unix.ENOBUFS):
			refused++
			runtime.Gosched()
		case errors.Is(errno, unix.EAGAIN), errors.Is(errno, unix.EINTR):
			runtime.Gosched()
		default:
			t.Errorf("flooding from %q after %d frames: %v", name, sent, errno)
			return sent, refused
		}
	}
	runtime.KeepAlive(frame)
	runtime.KeepAlive(&addr)
	runtime.KeepAlive(&iov)
	return sent, refused
}
