package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"

	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
)

// linkSource lists and follows the interfaces of the collector's network
// namespace: package links on Linux, fakes in tests.
type linkSource interface {
	// list returns every interface.
	list() ([]links.Link, error)
	// index returns the index of the interface named (or alternatively
	// named) name, or 0 when there is none.
	index(name string) (int, error)
	// subscribe sends every link event to events until done is closed,
	// then closes events. It also closes events when it fails, after
	// calling onErr.
	subscribe(events chan<- links.Event, done <-chan struct{}, onErr func(error)) error
}

// eventBuffer is how many link events wait for the registry's lock: a
// burst of interfaces created at once.
const eventBuffer = 256

// watch is one subscription to link events: the receiver follows
// interfaces as they come and go from the kernel's notifications, with no
// polling. Its goroutine applies each event to the registry under the
// scraper's lock.
type watch struct {
	done   chan struct{} // closed to end the subscription
	exited chan struct{} // closed when the goroutine applying events returns
}

// follow subscribes to link events, then lists the interfaces and brings
// the registry in line with them: subscribing first means no change can
// fall between the listing and the subscription. The events are applied by
// run, which the caller starts once it is ready. Callers hold s.mu.
func (s *xdpScraper) follow() (*watch, <-chan links.Event, error) {
	w := &watch{done: make(chan struct{}), exited: make(chan struct{})}
	events := make(chan links.Event, eventBuffer)
	onErr := func(err error) {
		select {
		case <-w.done: // the socket closed at shutdown: not a fault
		default:
			s.logger.Warn("following network interfaces through netlink", zap.Error(err))
		}
	}
	if err := s.links.subscribe(events, w.done, onErr); err != nil {
		return nil, nil, fmt.Errorf("following network interfaces through netlink: %w", err)
	}
	ls, err := s.links.list()
	if err != nil {
		close(w.done)
		for range events { // let the subscription's goroutines end
		}
		return nil, nil, err
	}
	s.reg.resync(ls)
	return w, events, nil
}

// run applies link events until the subscription ends. If it ends by
// itself (the socket overflowed or failed), the next collection subscribes
// again; meanwhile the status says that changes are not followed.
func (s *xdpScraper) run(w *watch, events <-chan links.Event) {
	defer close(w.exited)
	for e := range events {
		s.mu.Lock()
		if s.started {
			switch e.Type {
			case links.Added:
				s.reg.linkAdded(e.Link)
			case links.Deleted:
				s.reg.linkDeleted(e.Link)
			}
			s.status.update(s.reg, s.watchErr, false)
		}
		s.mu.Unlock()
	}
	select {
	case <-w.done:
	default:
		s.mu.Lock()
		s.watchErr = errors.New("the netlink subscription to interface changes ended: interfaces that come or go are not " +
			"followed until it is renewed, at the next collection")
		s.status.update(s.reg, s.watchErr, false)
		s.mu.Unlock()
	}
}

// stop ends the subscription and waits for its goroutine. Callers must not
// hold s.mu, which the goroutine takes.
func (w *watch) stop() {
	close(w.done)
	<-w.exited
}

// renewWatch subscribes again after the subscription ended by itself, and
// catches up with what changed meanwhile. Callers hold s.mu; the ended
// watch's goroutine no longer needs it.
func (s *xdpScraper) renewWatch() {
	if s.watch != nil {
		close(s.watch.done)
		<-s.watch.exited
		s.watch = nil
	}
	w, events, err := s.follow()
	if err != nil {
		s.watchErr = err
		return
	}
	s.logger.Info("following network interfaces again")
	s.watch, s.watchErr = w, nil
	go s.run(w, events)
}
