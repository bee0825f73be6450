package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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
// polling. Its goroutine first applies a listing of the interfaces made
// just after subscribing, then each event, to the registry under the
// scraper's lock, one interface at a time.
//
// Attaching takes a while per interface: a TCX link waits, under the
// kernel's RTNL lock, for an RCU grace period (tcx_entry_sync; about 9 ms
// on a 2-CPU VM, more on busy hosts), which no parallelism shortens. So
// the interfaces that patterns match are attached here, in the background,
// rather than in start: the collector starts, and scrapes report what is
// attached so far, while a node's hundreds of veths are being attached.
type watch struct {
	initial []links.Link
	events  chan links.Event
	done    chan struct{} // closed to end the subscription
	listed  chan struct{} // closed once the initial listing is applied (or abandoned)
	exited  chan struct{} // closed when the goroutine applying events returns
}

// follow subscribes to link events, then lists the interfaces and forgets
// what the listing no longer has: subscribing first means no change can
// fall between the listing and the subscription. The listing and the
// events are applied by run, which the caller starts once it is ready.
// Callers hold s.mu.
func (s *xdpScraper) follow() (*watch, error) {
	w := &watch{events: make(chan links.Event, eventBuffer), done: make(chan struct{}),
		listed: make(chan struct{}), exited: make(chan struct{})}
	onErr := func(err error) {
		select {
		case <-w.done: // the socket closed at shutdown: not a fault
		default:
			s.logger.Warn("following network interfaces through netlink", zap.Error(err))
		}
	}
	if err := s.links.subscribe(w.events, w.done, onErr); err != nil {
		return nil, fmt.Errorf("following network interfaces through netlink: %w", err)
	}
	ls, err := s.links.list()
	if err != nil {
		close(w.done)
		for range w.events { // let the subscription's goroutines end
		}
		return nil, err
	}
	s.reg.prune(ls)
	// In name order, so that attaching is as deterministic as the listing.
	slices.SortFunc(ls, func(a, b links.Link) int { return strings.Compare(a.Name, b.Name) })
	w.initial = ls
	return w, nil
}

// run applies the initial listing, then link events, until the
// subscription ends. If it ends by itself (the socket overflowed or
// failed), the next collection subscribes again; meanwhile the status says
// that changes are not followed.
func (s *xdpScraper) run(w *watch) {
	defer close(w.exited)
	s.applyListing(w)
	for e := range w.events {
		s.mu.Lock()
		if s.started && !s.stopping.Load() {
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

// applyListing attaches what the initial listing matches, one interface
// per hold of the lock, so that scrapes go on meanwhile, and stops early
// when the subscription ends. Events that arrive meanwhile wait in the
// channel; those about the listing's interfaces find them handled already.
func (s *xdpScraper) applyListing(w *watch) {
	defer close(w.listed)
	start, attached := time.Now(), 0
	for _, l := range w.initial {
		select {
		case <-w.done:
			return
		default:
		}
		if s.stopping.Load() {
			return
		}
		s.mu.Lock()
		if s.started {
			before := len(s.reg.byIndex)
			s.reg.linkAdded(l)
			attached += len(s.reg.byIndex) - before
			s.status.update(s.reg, s.watchErr, false)
		}
		s.mu.Unlock()
	}
	w.initial = nil
	if attached > 0 {
		s.logger.Info("attached the interfaces present when following began", zap.Int("interfaces", attached),
			zap.Duration("took", time.Since(start)))
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
	w, err := s.follow()
	if err != nil {
		s.watchErr = err
		return
	}
	s.logger.Info("following network interfaces again")
	s.watch, s.watchErr = w, nil
	go s.run(w)
}
