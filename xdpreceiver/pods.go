package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"net/netip"
	"time"

	"github.com/otelcol-xdp/otelcol-xdp/internal/pods"
)

// podIP is the pod IP that k8s.pod.ip reports of ips: the first of the
// family asked for, else the first of the other; k8sattributes indexes a
// pod by its primary IP, which on a dual-stack cluster is IPv4 unless it
// was set up IPv6 first. "" when ips is empty: no pod.
func podIP(ips []netip.Addr, family string) string {
	for _, ip := range ips {
		if ip.Is4() == (family == ipFamilyIPv4) {
			return ip.String()
		}
	}
	if len(ips) > 0 {
		return ips[0].String()
	}
	return ""
}

// podWatch follows which pod each interface belongs to, from the start of
// the receiver to its shutdown, and hands each change to one function.
type podWatch struct {
	watch  func(chan<- pods.Event, <-chan struct{}, func(error)) error
	family string
	// retry spaces the attempts to start a watch that failed to start.
	retry time.Duration

	done   chan struct{} // closed to end the subscription
	exited chan struct{} // closed when both goroutines returned
}

// podRetry is podWatch.retry: a pod watch fails to start for want of a
// socket or memory, which takes a while to come back.
const podRetry = 5 * time.Second

// start follows pods in the background: the initial listing, which the
// watch sends before it returns, may take a while on a node of hundreds of
// pods, and start does not wait for it. Interfaces are counted meanwhile,
// as the node's until their pod is known. apply gets the pod IP of each
// interface that changed, "" for none. fault gets the error that keeps
// pods from being followed, and nil once they are again: a watch that
// fails to start is started again every retry, and one that fails later
// renews itself.
func (p *podWatch) start(apply func(index int, pod string), fault func(error)) {
	// Local copies: onErr may be called after stop returned, when the
	// subscription's socket closes, and a later start makes new ones.
	done, exited := make(chan struct{}), make(chan struct{})
	p.done, p.exited = done, exited
	events := make(chan pods.Event, eventBuffer)
	handed, returned := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(handed)
		for {
			select {
			case <-done:
				// Until the watch returns: it may be sending its initial
				// listing still.
				for {
					select {
					case <-events:
					case <-returned:
						return
					}
				}
			case e := <-events:
				apply(e.Index, podIP(e.IPs, p.family))
			}
		}
	}()
	go func() {
		defer close(exited)
		p.follow(events, done, fault)
		close(returned)
		<-handed
	}()
}

// follow starts the watch, again every retry until it starts or done
// closes.
func (p *podWatch) follow(events chan<- pods.Event, done <-chan struct{}, fault func(error)) {
	report := func(err error) {
		select {
		case <-done: // the socket closed at shutdown: not a fault
		default:
			fault(err)
		}
	}
	for failed := false; ; failed = true {
		err := p.watch(events, done, report)
		if err == nil {
			if failed {
				report(nil)
			}
			return
		}
		report(err)
		select {
		case <-done:
			return
		case <-time.After(p.retry):
		}
	}
}

// stop ends the subscription and waits for the goroutines to return.
// Callers must not hold xdpScraper.mu, which apply takes.
func (p *podWatch) stop() {
	if p.done == nil {
		return
	}
	close(p.done)
	<-p.exited
	p.done = nil
}
