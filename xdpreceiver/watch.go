package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
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

// hostInterfaces lists the names of the interfaces that exist, for advice
// about one that does not.
func hostInterfaces(ls linkSource) func() []string {
	return func() []string {
		all, err := ls.list()
		if err != nil {
			return nil
		}
		var names []string
		for _, l := range all {
			names = append(names, l.Name)
		}
		return names
	}
}

// eventBuffer is how many link events wait for the scraper's lock: a
// burst of interfaces created at once.
const eventBuffer = 256

// watch is one subscription to link events: the receiver follows
// interfaces as they come and go from the kernel's notifications, with no
// polling. Its goroutine hands a listing of the interfaces made just after
// subscribing, then each event, to one function (xdpScraper.handle), one
// interface at a time.
//
// Attaching takes a while per interface: a TCX link waits, under the
// kernel's RTNL lock, for an RCU grace period (tcx_entry_sync; about 9 ms
// on a 2-CPU VM, more on busy hosts), which no parallelism shortens. So
// the interfaces that patterns match are attached here, in the background,
// rather than in start: the collector starts, and scrapes report what is
// attached so far, while a node's hundreds of veths are being attached.
type watch struct {
	// listing are the interfaces when the subscription began, in name
	// order, so that attaching is as deterministic as the listing.
	listing []links.Link
	events  chan links.Event
	done    chan struct{} // closed to end the subscription
	listed  chan struct{} // closed once the listing is handed on (or abandoned)
	exited  chan struct{} // closed when the goroutine returns
}

// follow subscribes to link events, then lists the interfaces: subscribing
// first means no change can fall between the listing and the
// subscription. The caller brings what it counts in line with the listing
// (discovery.prune), then starts run.
func follow(ls linkSource, logger *zap.Logger) (*watch, error) {
	w := &watch{events: make(chan links.Event, eventBuffer), done: make(chan struct{}),
		listed: make(chan struct{}), exited: make(chan struct{})}
	onErr := func(err error) {
		select {
		case <-w.done: // the socket closed at shutdown: not a fault
		default:
			logger.Warn("following network interfaces through netlink", zap.Error(err))
		}
	}
	if err := ls.subscribe(w.events, w.done, onErr); err != nil {
		return nil, fmt.Errorf("following network interfaces through netlink: %w", err)
	}
	listing, err := ls.list()
	if err != nil {
		close(w.done)
		for range w.events { // let the subscription's goroutines end
		}
		return nil, err
	}
	slices.SortFunc(listing, func(a, b links.Link) int { return strings.Compare(a.Name, b.Name) })
	w.listing = listing
	return w, nil
}

// run hands each interface of the listing, as an Added event, then each
// event, to handle, which returns how many interfaces it attached, until
// the subscription ends. If it ends by itself (the socket overflowed or
// failed), it calls ended.
func (w *watch) run(handle func(links.Event) int, ended func(), logger *zap.Logger) {
	defer close(w.exited)
	w.hand(handle, logger)
	for e := range w.events {
		handle(e)
	}
	select {
	case <-w.done:
	default:
		ended()
	}
}

// hand hands on the listing, and stops early when the subscription ends.
// Events that arrive meanwhile wait in the channel; those about the
// listing's interfaces find them handled already.
func (w *watch) hand(handle func(links.Event) int, logger *zap.Logger) {
	defer close(w.listed)
	start, attached := time.Now(), 0
	for _, l := range w.listing {
		select {
		case <-w.done:
			return
		default:
		}
		attached += handle(links.Event{Type: links.Added, Link: l})
	}
	w.listing = nil
	if attached > 0 {
		logger.Info("attached the interfaces present when following began", zap.Int("interfaces", attached),
			zap.Duration("took", time.Since(start)))
	}
}

// stop ends the subscription and waits for run to return. Callers must
// not hold xdpScraper.mu, which handle takes, unless the subscription
// ended by itself: then run called ended, and takes it no more.
func (w *watch) stop() {
	close(w.done)
	<-w.exited
}
