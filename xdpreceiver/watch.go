//go:build linux

package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/vishvananda/netlink"
	"go.uber.org/zap"
	"golang.org/x/sys/unix"
)

// linkSource lists and follows the network interfaces of the collector's
// network namespace. It is an interface so that tests can drive link
// changes without privileges.
type linkSource interface {
	// list returns every interface, by name and index.
	list() (map[string]int, error)
	// index returns the interface's index, or 0 when there is none.
	index(name string) (int, error)
	// subscribe sends every link change to ch until done is closed, then
	// closes ch. It also closes ch when it fails, after calling onErr.
	subscribe(ch chan<- netlink.LinkUpdate, done <-chan struct{}, onErr func(error)) error
}

// netlinkSource is the kernel's rtnetlink.
type netlinkSource struct{}

// watchBufferSize is the netlink socket's receive buffer. Link events come
// in bursts (an orchestrator creating dozens of veths); an overflow ends the
// subscription (ENOBUFS), which the scraper then renews with a full listing,
// but a buffer that holds a burst avoids that.
const watchBufferSize = 4 << 20

func (netlinkSource) subscribe(ch chan<- netlink.LinkUpdate, done <-chan struct{}, onErr func(error)) error {
	// Forcing the size past net.core.rmem_max needs CAP_NET_ADMIN, which
	// attaching XDP needs anyway; without it, take what the system allows.
	// Asked beforehand because netlink leaks the socket when setting the
	// size fails.
	opts := netlink.LinkSubscribeOptions{ErrorCallback: onErr, ReceiveBufferSize: watchBufferSize, ReceiveBufferForceSize: hasNetAdmin()}
	return netlink.LinkSubscribeWithOptions(ch, done, opts)
}

// hasNetAdmin tells whether the process has CAP_NET_ADMIN in effect.
func hasNetAdmin() bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return false
	}
	return data[unix.CAP_NET_ADMIN/32].Effective&(1<<(unix.CAP_NET_ADMIN%32)) != 0
}

func (netlinkSource) list() (map[string]int, error) {
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	m := make(map[string]int, len(links))
	for _, l := range links {
		m[l.Attrs().Name] = l.Attrs().Index
	}
	return m, nil
}

func (netlinkSource) index(name string) (int, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return 0, nil
		}
		return 0, err
	}
	return l.Attrs().Index, nil
}

// watch is one subscription to link changes: the receiver follows
// interfaces as they come and go from the kernel's notifications, with no
// polling.
type watch struct {
	done   chan struct{} // closed to end the subscription
	exited chan struct{} // closed when the goroutine handling changes returns
}

// follow subscribes to link changes, then lists the interfaces and attaches
// to the ones that match: subscribing first means no change can fall
// between the listing and the subscription. The changes are handled from
// the returned watch's goroutine, which must be started with run once s is
// ready. Callers hold s.mu.
func (s *xdpScraper) follow() (*watch, chan netlink.LinkUpdate, error) {
	w := &watch{done: make(chan struct{}), exited: make(chan struct{})}
	ch := make(chan netlink.LinkUpdate, 64)
	onErr := func(err error) {
		select {
		case <-w.done: // the socket closed at shutdown: not a fault
		default:
			s.logger.Warn("following network interfaces through netlink", zap.Error(err))
		}
	}
	if err := s.links.subscribe(ch, w.done, onErr); err != nil {
		return nil, nil, fmt.Errorf("following network interfaces through netlink: %w", err)
	}
	links, err := s.links.list()
	if err != nil {
		close(w.done)
		for range ch { // let the subscription's goroutine end
		}
		return nil, nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	s.resync(links)
	return w, ch, nil
}

// run handles link changes until the subscription ends. If it ends by
// itself (the socket overflowed or failed) the next scrape subscribes
// again; meanwhile the status says that changes are not followed.
func (s *xdpScraper) run(w *watch, ch <-chan netlink.LinkUpdate) {
	defer close(w.exited)
	for u := range ch {
		s.mu.Lock()
		s.handle(u)
		s.updateStatus()
		s.mu.Unlock()
	}
	select {
	case <-w.done:
	default:
		s.mu.Lock()
		s.watchErr = errors.New("the netlink subscription to interface changes ended: interfaces that come or go are not " +
			"followed until it is renewed, at the next collection")
		s.updateStatus()
		s.mu.Unlock()
	}
}

// stop ends the subscription and waits for its goroutines. Callers must not
// hold s.mu, which the handling goroutine takes.
func (w *watch) stop() {
	close(w.done)
	<-w.exited
}

// handle applies one link change. A new link message comes for every
// change of an interface (state, addresses, our own XDP attach), so it is
// cheap when nothing relevant changed.
func (s *xdpScraper) handle(u netlink.LinkUpdate) {
	name, index := u.Link.Attrs().Name, int(u.Index)
	switch u.Header.Type {
	case unix.RTM_NEWLINK:
		s.linkAppeared(name, index)
	case unix.RTM_DELLINK:
		s.linkGone(name, index)
	}
}

// resync brings the states in line with a full listing: at start, and
// after the subscription was renewed, when changes may have been missed.
func (s *xdpScraper) resync(links map[string]int) {
	for _, name := range append([]string(nil), s.order...) {
		ifc := s.states[name]
		if index, ok := links[name]; !ok || (ifc.reader != nil && ifc.index != index) {
			s.linkGone(name, ifc.index)
		}
	}
	// In name order, so that attaching is as deterministic as the listing.
	for _, name := range slices.Sorted(maps.Keys(links)) {
		s.linkAppeared(name, links[name])
	}
}
