//go:build linux

package pods

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
)

// Watch sends the initial state and then every change to events until done
// is closed; it returns once it is subscribed and the initial listing is
// sent (or fails). After that, a subscription that fails is replaced, and
// onErr hears of it: the error when changes stop being followed, then nil
// once they are again (after a listing that brings events up to date).
func Watch(events chan<- Event, done <-chan struct{}, onErr func(error)) error {
	return watchAt(options{ns: netns.None(), bufferSize: bufferSize}, events, done, onErr)
}

// options are what tests choose: a network namespace of their own
// instead of the current one, a small socket buffer that overflows.
type options struct {
	ns         netns.NsHandle // netns.None(): the current one
	bufferSize int
	// overflowed is called when messages were lost, before listing again.
	overflowed func()
	// dump replaces watcher.dump: dumps that a test interrupts at will.
	dump func() ([]netlink.Link, []netlink.Route, []netlink.Neigh, error)
}

// watchAt is Watch with options. The initial listing is sent before it
// returns: events must be read meanwhile, or hold it.
func watchAt(o options, events chan<- Event, done <-chan struct{}, onErr func(error)) error {
	w := &watcher{options: o, events: events, done: done, onErr: onErr, s: newState()}
	var err error
	if o.ns.IsOpen() {
		w.h, err = netlink.NewHandleAt(o.ns)
	} else {
		w.h, err = netlink.NewHandle()
	}
	if err != nil {
		return fmt.Errorf("open netlink: %w", err)
	}
	if err := w.start(); err != nil {
		w.h.Close()
		return err
	}
	go w.run()
	return nil
}

// dumpRetries bounds the retries of an interrupted netlink dump, as in
// package links.
const dumpRetries = 10

// bufferSize is the subscription socket's receive buffer: a burst of pods
// starting (a link, a route, neighbors and FDB entries each) fits in it.
// An overflow loses messages (ENOBUFS), and everything is listed again.
const bufferSize = 4 << 20

// retryAfter spaces attempts to subscribe again after one failed.
const retryAfter = time.Second

type watcher struct {
	options
	h      *netlink.Handle
	s      *state
	events chan<- Event
	done   <-chan struct{}
	onErr  func(error)
	sock   *nl.NetlinkSocket
}

// start subscribes, then lists: a change then either shows in the listing
// or comes as a message after it, or both, which applies twice to the same
// effect.
func (w *watcher) start() error {
	if err := w.subscribe(); err != nil {
		return err
	}
	if err := w.list(); err != nil {
		w.sock.Close()
		return err
	}
	return nil
}

// subscribe opens one socket for routes, neighbors (with FDB entries) and
// interfaces. One socket, not one for each: the kernel queues the
// messages of all groups on it in the order of the changes, and that order
// matters (a route through an interface that was down, then up).
func (w *watcher) subscribe() error {
	cur := netns.None()
	if w.ns.IsOpen() {
		var err error
		if cur, err = netns.Get(); err != nil {
			return fmt.Errorf("get network namespace: %w", err)
		}
		defer func() { _ = cur.Close() }()
	}
	sock, err := nl.SubscribeAt(w.ns, cur, unix.NETLINK_ROUTE,
		unix.RTNLGRP_LINK, unix.RTNLGRP_NEIGH, unix.RTNLGRP_IPV4_ROUTE, unix.RTNLGRP_IPV6_ROUTE)
	if err != nil {
		return fmt.Errorf("follow routes, neighbors and interfaces through netlink: %w", err)
	}
	// Forcing the size past net.core.rmem_max needs CAP_NET_ADMIN;
	// without it, take what the system allows.
	if err := sock.SetReceiveBufferSize(w.bufferSize, links.HasNetAdmin()); err != nil {
		sock.Close()
		return fmt.Errorf("set netlink receive buffer: %w", err)
	}
	w.sock = sock
	// Closing the socket wakes its receive.
	done, sub := w.done, sock
	go func() {
		<-done
		sub.Close()
	}()
	return nil
}

// list lists everything, replaces the state with it, and sends the
// answers that changed (all of them, the first time).
func (w *watcher) list() error {
	var (
		lks    []netlink.Link
		routes []netlink.Route
		neighs []netlink.Neigh
		err    error
	)
	for range dumpRetries {
		if w.options.dump != nil {
			lks, routes, neighs, err = w.options.dump()
		} else {
			lks, routes, neighs, err = w.dump()
		}
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			break
		}
	}
	if errors.Is(err, netlink.ErrDumpInterrupted) {
		return fmt.Errorf("list routes, neighbors and interfaces: %d times: %w", dumpRetries, err)
	}
	if err != nil {
		return fmt.Errorf("list routes, neighbors and interfaces: %w", err)
	}
	w.s.reset()
	for _, l := range lks {
		w.s.link(l.Attrs().Index, l, true)
	}
	for i := range routes {
		w.s.route(&routes[i], true)
	}
	for i := range neighs {
		w.s.neigh(&neighs[i], true)
	}
	return w.send(w.s.changes(w.s.all()))
}

// dump takes one listing. A dump that changes interrupt (NLM_F_DUMP_INTR)
// may be incomplete or inconsistent: it is never used.
func (w *watcher) dump() ([]netlink.Link, []netlink.Route, []netlink.Neigh, error) {
	return dumpWith(w.h)
}

func dumpWith(h *netlink.Handle) ([]netlink.Link, []netlink.Route, []netlink.Neigh, error) {
	lks, err := h.LinkList()
	if err != nil {
		return nil, nil, nil, err
	}
	// Table unspecified with the table filter: every table, not only main.
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, nil, nil, err
	}
	var neighs []netlink.Neigh
	for _, family := range []int{unix.AF_INET, unix.AF_INET6, unix.AF_BRIDGE} {
		ns, err := h.NeighList(0, family)
		if err != nil {
			return nil, nil, nil, err
		}
		neighs = append(neighs, ns...)
	}
	return lks, routes, neighs, nil
}

// send sends events, unless done closes first.
func (w *watcher) send(events []Event) error {
	for _, e := range events {
		select {
		case w.events <- e:
		case <-w.done:
			return errDone
		}
	}
	return nil
}

var errDone = errors.New("done")

// run follows the subscription until done closes. Messages lost to a
// full socket buffer (ENOBUFS) are made up for by listing everything
// again; a subscription that fails otherwise is reported and replaced.
func (w *watcher) run() {
	defer w.h.Close()
	for {
		msgs, _, err := w.sock.Receive()
		if w.stopped() {
			return
		}
		if errors.Is(err, unix.ENOBUFS) {
			if w.overflowed != nil {
				w.overflowed()
			}
			w.discardQueued()
			if err := w.list(); err != nil {
				if errors.Is(err, errDone) {
					return
				}
				w.onErr(err)
				if !w.renew() {
					return
				}
			}
			continue
		}
		if err != nil {
			w.onErr(fmt.Errorf("receive netlink messages: %w", err))
			if !w.renew() {
				return
			}
			continue
		}
		for _, m := range msgs {
			if w.send(w.s.changes(w.apply(m))) != nil {
				return
			}
		}
	}
}

// apply applies one message and returns the interfaces whose answers it
// may change.
func (w *watcher) apply(m syscall.NetlinkMessage) []int {
	switch t := m.Header.Type; t {
	case unix.RTM_NEWROUTE, unix.RTM_DELROUTE:
		if r, ok := parseRoute(m.Data); ok {
			return w.s.route(&r, t == unix.RTM_NEWROUTE)
		}
	case unix.RTM_NEWNEIGH, unix.RTM_DELNEIGH:
		if n, err := netlink.NeighDeserialize(m.Data); err == nil {
			return w.s.neigh(n, t == unix.RTM_NEWNEIGH)
		}
	case unix.RTM_NEWLINK, unix.RTM_DELLINK:
		if len(m.Data) < unix.SizeofIfInfomsg {
			return nil
		}
		index := int(nl.DeserializeIfInfomsg(m.Data).Index)
		hdr := unix.NlMsghdr(m.Header)
		l, err := netlink.LinkDeserialize(&hdr, m.Data)
		if err != nil {
			return nil
		}
		return w.s.link(index, l, t == unix.RTM_NEWLINK)
	}
	return nil
}

// discardQueued throws away the messages queued on the socket after an
// overflow: the listing that follows is newer than all of them. It must
// come first: until its queue has been emptied, the kernel takes the
// socket for congested still and reports no further overflow, and the
// messages dropped while the listing runs would go unnoticed.
func (w *watcher) discardQueued() {
	buf := make([]byte, 64<<10)
	for {
		_, _, err := unix.Recvfrom(w.sock.GetFd(), buf, unix.MSG_DONTWAIT)
		if err != nil && err != unix.ENOBUFS && err != unix.EINTR {
			return
		}
	}
}

func (w *watcher) stopped() bool {
	select {
	case <-w.done:
		return true
	default:
		return false
	}
}

// renew replaces the subscription and lists again, until that works or
// done closes; it tells whether to go on. It follows an error reported to
// onErr, and reports nil when it worked.
func (w *watcher) renew() bool {
	w.sock.Close()
	for !w.stopped() {
		err := w.start()
		if err == nil {
			w.onErr(nil)
			return true
		}
		if errors.Is(err, errDone) {
			return false
		}
		w.onErr(err)
		select {
		case <-w.done:
		case <-time.After(retryAfter):
		}
	}
	return false
}
