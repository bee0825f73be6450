//go:build linux

package bpf

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// filterPrefix starts the name of every clsact filter a datapath adds; its
// owner's token follows (filterName).
const filterPrefix = "otelcol-xdp/"

// tokenLen is the length of an owner's token: 16 hex digits, which no pid
// has (pid_max is at most 2^22), so that names of earlier versions, which
// carried the pid, never read as a token.
const tokenLen = 16

// owner is what tells, across processes, whether the clsact filters of a
// datapath still have a live owner: a random token, which names its
// filters, and an abstract unix socket named like them, which the
// datapath holds for as long as it lives.
//
// Clsact filters outlive their process, and the next one removes those
// whose owner died. Asking the kernel about their program needs
// CAP_SYS_ADMIN (BPF_PROG_GET_FD_BY_ID), which the collector does not
// have, and a pid says nothing across PID namespaces (in containers every
// collector is pid 1). The socket does: abstract names belong to the
// network namespace, as the filters' interfaces do, not to the PID
// namespace; binding one needs no privilege; and the kernel frees it with
// the last descriptor, also when the process is SIGKILLed.
type owner struct {
	token string
	fd    int
}

func newOwner() (*owner, error) {
	for {
		var b [tokenLen / 2]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("draw filter owner token: %w", err)
		}
		o := &owner{token: hex.EncodeToString(b[:])}
		fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open filter owner socket: %w", err)
		}
		err = unix.Bind(fd, ownerAddress(o.token))
		if errors.Is(err, unix.EADDRINUSE) {
			_ = unix.Close(fd) // another owner drew the same token: draw again
			continue
		}
		if err != nil {
			_ = unix.Close(fd)
			return nil, fmt.Errorf("bind filter owner socket %q: %w", "@"+filterName(o.token), err)
		}
		o.fd = fd
		return o, nil
	}
}

// close ends the ownership: from then on, the sweep of any datapath
// removes the filters of the token that are left.
func (o *owner) close() error {
	if o == nil || o.fd < 0 {
		return nil
	}
	err := unix.Close(o.fd)
	o.fd = -1
	return err
}

// filterName is the name of the filters of the owner with token.
func filterName(token string) string { return filterPrefix + token }

// ownerAddress is the abstract unix address named like the filters of
// token. Datagram sockets: the owner never reads, and a connect to it,
// which is all the sweep does, queues nothing there.
func ownerAddress(token string) *unix.SockaddrUnix {
	return &unix.SockaddrUnix{Name: "@" + filterName(token)}
}

// ownerAlive tells whether the datapath that holds token still lives:
// whether anything is bound to its address. Only ECONNREFUSED (nothing
// bound) says it is gone; any other failure counts as alive, so that a
// filter is never removed on a doubt.
func ownerAlive(token string) bool {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return true
	}
	defer func() { _ = unix.Close(fd) }()
	return !errors.Is(unix.Connect(fd, ownerAddress(token)), unix.ECONNREFUSED)
}

// parseOwner splits the owner out of the name of one of our filters: a
// token, or the pid that versions before tokens put there; ok is false
// for any other name.
func parseOwner(name string) (token string, pid int, ok bool) {
	rest, found := strings.CutPrefix(name, filterPrefix)
	if !found {
		return "", 0, false
	}
	if len(rest) == tokenLen && strings.Trim(rest, "0123456789abcdef") == "" {
		return rest, 0, true
	}
	if rest != "" && len(rest) < tokenLen && strings.Trim(rest, "0123456789") == "" {
		pid, err := strconv.Atoi(rest)
		return "", pid, err == nil && pid > 0
	}
	return "", 0, false
}
