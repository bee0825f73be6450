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
	if len(frame) == 0 {
		t.Errorf("flooding %q: empty frame", p.Peer)
		return 0
	}
	addr := unix.RawSockaddrLinklayer{Family: unix.AF_PACKET, Ifindex: int32(p.peerIndex)}
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
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(p.sock), uintptr(unsafe.Pointer(&msgs[0])), uintptr(batch), 0, 0, 0)
		if errno == 0 {
			sent += int(r)
			continue
		}
		switch {
		case errors.Is(errno, unix.ENXIO), errors.Is(errno, unix.ENODEV), errors.Is(errno, unix.ENETDOWN):
			return sent
		case errors.Is(errno, unix.ENOBUFS), errors.Is(errno, unix.EAGAIN), errors.Is(errno, unix.EINTR):
			runtime.Gosched()
		default:
			t.Errorf("flooding from %q after %d frames: %v", p.Peer, sent, errno)
			return sent
		}
	}
	runtime.KeepAlive(frame)
	runtime.KeepAlive(&addr)
	runtime.KeepAlive(&iov)
	return sent
}
