//go:build linux

package links

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func fromNetlink(a *netlink.LinkAttrs) Link {
	return Link{Index: a.Index, Name: a.Name, AltNames: a.AltNames}
}

// dumpRetries bounds the retries of an interrupted netlink dump: each
// needs interfaces to change during a dump, which takes a millisecond.
const dumpRetries = 10

// List returns every interface of the namespace. A dump that interfaces
// changing meanwhile interrupt (NLM_F_DUMP_INTR) may be incomplete or
// inconsistent: it is never used, and the dump runs again, a bounded number
// of times.
func List() ([]Link, error) {
	var err error
	for range dumpRetries {
		var ls []netlink.Link
		ls, err = netlink.LinkList()
		if errors.Is(err, netlink.ErrDumpInterrupted) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list interfaces: %w", err)
		}
		out := make([]Link, len(ls))
		for i, l := range ls {
			out[i] = fromNetlink(l.Attrs())
		}
		return out, nil
	}
	return nil, fmt.Errorf("list interfaces: %w (%d times): %w", ErrDumpInterrupted, dumpRetries, err)
}

// Index returns the index of the interface named (or alternatively named)
// name, or 0 when there is none. One RTM_GETLINK, not a dump.
func Index(name string) (int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return 0, nil
		}
		return 0, fmt.Errorf("look up interface %q: %w", name, err)
	}
	return l.Attrs().Index, nil
}

// watchBufferSize is the netlink socket's receive buffer. Interfaces change
// in bursts (an orchestrator creating dozens of veths); an overflow ends
// the subscription (ENOBUFS), which the caller renews with a listing, but a
// buffer that holds a burst avoids that.
const watchBufferSize = 4 << 20

// Subscribe sends an Event for every change of an interface to events until
// done is closed, and then closes events. It also closes events when the
// subscription fails (a buffer overflow, ENOBUFS), after calling onErr; the
// caller then subscribes again and lists, for what it missed. Subscribe
// first and list second: no change then falls between the two.
func Subscribe(events chan<- Event, done <-chan struct{}, onErr func(error)) error {
	updates := make(chan netlink.LinkUpdate, cap(events))
	// Forcing the size past net.core.rmem_max needs CAP_NET_ADMIN;
	// without it, take what the system allows. Asked beforehand because
	// netlink leaks the socket when setting the size fails.
	opts := netlink.LinkSubscribeOptions{ErrorCallback: onErr, ReceiveBufferSize: watchBufferSize, ReceiveBufferForceSize: HasNetAdmin()}
	if err := netlink.LinkSubscribeWithOptions(updates, done, opts); err != nil {
		return fmt.Errorf("follow interfaces through netlink: %w", err)
	}
	go func() {
		defer close(events)
		for u := range updates {
			e := Event{Link: fromNetlink(u.Attrs())}
			e.Link.Index = int(u.Index)
			switch u.Header.Type {
			case unix.RTM_NEWLINK:
				e.Type = Added
			case unix.RTM_DELLINK:
				e.Type = Deleted
			default:
				continue
			}
			events <- e
		}
	}()
	return nil
}

// HasNetAdmin tells whether the process has CAP_NET_ADMIN in effect, which
// lets a netlink subscription take a receive buffer above rmem_max.
func HasNetAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) != 0
}
