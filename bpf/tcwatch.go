//go:build linux

package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// tcWatch tells which interfaces' TC configuration changed since a given
// moment, from the kernel's notifications (RTNLGRP_TC, and RTNLGRP_LINK for
// deleted interfaces), so that a clsact hook dumps its filters to see
// whether it is still attached only after something changed on its
// interface: not for every idle interface at every collection.
//
// The kernel notifies every removal that can take a filter away: `tc
// filter del` and `replace` (RTM_DELTFILTER, RTM_NEWTFILTER), the qdisc
// with all of its filters (RTM_DELQDISC, as by `tc qdisc del dev X
// clsact`), a chain (RTM_DELCHAIN), the interface (RTM_DELLINK). When
// notifications were lost (the socket's buffer overflowed, ENOBUFS), every
// interface counts as changed.
type tcWatch struct {
	fd int
	// gen counts the notifications that concern a watched interface.
	gen uint64
	// changed holds, for each watched interface, the gen of its last
	// notification; refs how many hooks watch it.
	changed map[int]uint64
	refs    map[int]int
	// lost is the gen at which notifications were last lost.
	lost uint64
	buf  []byte
}

func newTCWatch() (*tcWatch, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open TC notification socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1<<(unix.RTNLGRP_TC-1) | 1<<(unix.RTNLGRP_LINK-1)}
	if err := unix.Bind(fd, sa); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("subscribe to TC notifications: %w", err)
	}
	return &tcWatch{fd: fd, changed: map[int]uint64{}, refs: map[int]int{}, buf: make([]byte, 64<<10)}, nil
}

func (w *tcWatch) close() error {
	if w == nil || w.fd < 0 {
		return nil
	}
	err := unix.Close(w.fd)
	w.fd = -1
	return err
}

// watch starts following the interface and returns the moment from which
// changedSince tells about it.
func (w *tcWatch) watch(index int) uint64 {
	w.refs[index]++
	return w.gen
}

func (w *tcWatch) unwatch(index int) {
	w.refs[index]--
	if w.refs[index] <= 0 {
		delete(w.refs, index)
		delete(w.changed, index)
	}
}

// changedSince reads the pending notifications and tells whether the
// interface's TC configuration may have changed since the moment since;
// now is the moment to pass next time.
func (w *tcWatch) changedSince(index int, since uint64) (changed bool, now uint64, err error) {
	if err := w.drain(); err != nil {
		return false, since, err
	}
	return w.changed[index] > since || w.lost > since, w.gen, nil
}

// drain reads every pending notification, without waiting.
func (w *tcWatch) drain() error {
	for {
		n, _, flags, _, err := unix.Recvmsg(w.fd, w.buf, nil, unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return nil
		case errors.Is(err, unix.ENOBUFS):
			w.gen++
			w.lost = w.gen
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("read TC notifications: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(w.buf[:n])
		if err != nil || flags&unix.MSG_TRUNC != 0 {
			w.gen++
			w.lost = w.gen
			continue
		}
		for _, m := range msgs {
			w.note(m.Header.Type, m.Data)
		}
	}
}

// note records a notification. The interface index sits at the same
// offset of struct tcmsg and struct ifinfomsg: after a family byte, a pad
// byte and a 16-bit field.
func (w *tcWatch) note(typ uint16, data []byte) {
	switch typ {
	case unix.RTM_DELTFILTER, unix.RTM_NEWTFILTER, unix.RTM_DELQDISC, unix.RTM_DELCHAIN, unix.RTM_DELLINK:
	default:
		return
	}
	if len(data) < 8 {
		return
	}
	index := int(int32(binary.NativeEndian.Uint32(data[4:8])))
	if _, ok := w.refs[index]; ok {
		w.gen++
		w.changed[index] = w.gen
	}
}
