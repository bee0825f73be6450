//go:build linux

package xdpreceiver

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// fakeKernel stands in for bpf.Attach and for the kernel's links: every
// interface has counters the test sets, attach and read errors the test
// injects, and links the test creates and deletes, which the receiver
// hears of through a fake subscription.
type fakeKernel struct {
	mu         sync.Mutex
	counters   map[string]*fakeCounter // attached, by interface
	attachErrs map[string]error
	attaches   []string // every successful attach, in order
	links      map[string]int
	nextIndex  int
	subs       []chan<- netlink.LinkUpdate
	subErr     error
	checkErr   error            // what openProgram returns
	checks     []bpf.CustomSpec // every openProgram, in order
}

type fakeCounter struct {
	k        *fakeKernel
	ifindex  int
	totals   bpf.Totals
	keys     map[uint32]uint64 // a program's counter map
	err      error
	detached bool
	closes   int
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{counters: map[string]*fakeCounter{}, attachErrs: map[string]error{}, links: map[string]int{"lo": 1}, nextIndex: 2}
	for _, name := range []string{"eth0", "eth1", "eth2"} {
		k.links[name] = k.nextIndex
		k.nextIndex++
	}
	return k
}

func (k *fakeKernel) attach(iface string, _ bpf.Mode) (counterReader, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.attachErrs[iface]; err != nil {
		return nil, err
	}
	index, ok := k.links[iface]
	if !ok {
		return nil, fmt.Errorf("interface %q not found (fake)", iface)
	}
	if c, ok := k.counters[iface]; ok && c.closes == 0 && !c.detached {
		return nil, fmt.Errorf("fake: %q attached twice", iface)
	}
	c := &fakeCounter{k: k, ifindex: index}
	k.counters[iface] = c
	k.attaches = append(k.attaches, iface)
	return c, nil
}

func (c *fakeCounter) Read(t *bpf.Totals) error {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	if c.closes > 0 {
		return errors.New("fake: read after close")
	}
	if c.err != nil {
		return c.err
	}
	*t = c.totals
	if c.detached {
		return fmt.Errorf("reading XDP counters (fake): %w", errDetached)
	}
	return nil
}

func (k *fakeKernel) openProgram(spec bpf.CustomSpec) (programObject, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.checks = append(k.checks, spec)
	if k.checkErr != nil {
		return nil, k.checkErr
	}
	return fakeObject{k}, nil
}

type fakeObject struct{ k *fakeKernel }

// attach attaches a fake program, whose map the test sets with setKey;
// everything else is as for the built-in counter.
func (o fakeObject) attach(iface string, mode bpf.Mode) (programReader, error) {
	r, err := o.k.attach(iface, mode)
	if err != nil {
		return nil, err
	}
	return fakeProgram{r.(*fakeCounter)}, nil
}

type fakeProgram struct{ *fakeCounter }

func (p fakeProgram) Read(dst map[uint32]uint64) error {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	if p.closes > 0 {
		return errors.New("fake: read after close")
	}
	if p.err != nil {
		return p.err
	}
	clear(dst)
	maps.Copy(dst, p.keys)
	if p.detached {
		return fmt.Errorf("reading XDP counters (fake): %w", errDetached)
	}
	return nil
}

// setKey sets key of the program's map on an attached interface.
func (k *fakeKernel) setKey(t *testing.T, iface string, key uint32, v uint64) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.counters[iface]
	if !ok {
		t.Fatalf("fake: %q is not attached", iface)
	}
	if c.keys == nil {
		c.keys = map[uint32]uint64{}
	}
	c.keys[key] = v
}

// addKey adds n to key of the program's map on an attached interface.
func (k *fakeKernel) addKey(t *testing.T, iface string, key uint32, n uint64) {
	t.Helper()
	k.mu.Lock()
	v := k.counters[iface].keys[key]
	k.mu.Unlock()
	k.setKey(t, iface, key, v+n)
}

// deleteKey deletes key from the program's map, as a program deleting a
// hash entry does.
func (k *fakeKernel) deleteKey(iface string, key uint32) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.counters[iface].keys, key)
}

func (c *fakeCounter) Close() error {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	c.closes++
	return nil
}

func (c *fakeCounter) Ifindex() int { return c.ifindex }

func (k *fakeKernel) list() (map[string]int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return maps.Clone(k.links), nil
}

func (k *fakeKernel) index(name string) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.links[name], nil
}

// subscribe hands ch to the test's link changes until done is closed. The
// fake never fails once subscribed: end ends the subscription as an
// overflow would.
func (k *fakeKernel) subscribe(ch chan<- netlink.LinkUpdate, done <-chan struct{}, _ func(error)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.subErr != nil {
		return k.subErr
	}
	k.subs = append(k.subs, ch)
	go func() {
		<-done
		k.mu.Lock()
		defer k.mu.Unlock()
		if i := slices.Index(k.subs, ch); i >= 0 {
			k.subs = slices.Delete(k.subs, i, i+1)
			close(ch)
		}
	}()
	return nil
}

// end ends every subscription as if the netlink socket had failed.
func (k *fakeKernel) end() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, ch := range k.subs {
		close(ch)
	}
	k.subs = nil
}

// addLink creates the interface (or, if it exists, reports a change of it)
// and tells subscribers.
func (k *fakeKernel) addLink(name string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	index, ok := k.links[name]
	if !ok {
		index = k.nextIndex
		k.nextIndex++
		k.links[name] = index
	}
	k.notify(unix.RTM_NEWLINK, name, index)
	return index
}

// delLink deletes the interface: its counter stops, frozen, and
// subscribers are told.
func (k *fakeKernel) delLink(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	index := k.links[name]
	delete(k.links, name)
	if c, ok := k.counters[name]; ok && c.ifindex == index {
		c.detached = true
	}
	k.notify(unix.RTM_DELLINK, name, index)
}

// detach detaches the counter from outside, as bpftool link detach does.
func (k *fakeKernel) detach(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.counters[name].detached = true
}

func (k *fakeKernel) notify(typ uint16, name string, index int) {
	u := netlink.LinkUpdate{Header: unix.NlMsghdr{Type: typ}, Link: &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: name, Index: index}}}
	u.Index = int32(index)
	for _, ch := range k.subs {
		ch <- u
	}
}

func (k *fakeKernel) attachCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.attaches)
}

// add counts packets of the given class and size on an attached interface.
func (k *fakeKernel) add(t *testing.T, iface string, class bpf.Class, packets, size uint64) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.counters[iface]
	if !ok {
		t.Fatalf("fake: %q is not attached", iface)
	}
	c.totals[class.Index()].Packets += packets
	c.totals[class.Index()].Bytes += packets * size
}

func (k *fakeKernel) set(t *testing.T, iface string, class bpf.Class, packets, bytes uint64) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.counters[iface].totals[class.Index()] = bpf.Counter{Packets: packets, Bytes: bytes}
}

func (k *fakeKernel) setReadErr(iface string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.counters[iface].err = err
}

func (k *fakeKernel) closes(iface string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.counters[iface]; ok {
		return c.closes
	}
	return -1
}

// fakeClock is the scraper's clock: tests set the time of each step, so
// golden files hold exact timestamps.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

var epoch = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{t: epoch} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// at sets the clock to epoch + sec seconds and returns that timestamp.
func (c *fakeClock) at(sec int) pcommon.Timestamp {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = epoch.Add(time.Duration(sec) * time.Second)
	return pcommon.NewTimestampFromTime(c.t)
}

// statusHost records the status events a component reports.
type statusHost struct {
	component.Host
	mu     sync.Mutex
	events []*componentstatus.Event
}

func newStatusHost() *statusHost { return &statusHost{Host: componenttest.NewNopHost()} }

func (h *statusHost) Report(e *componentstatus.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, e)
}

func (h *statusHost) statuses() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s []componentstatus.Status
	for _, e := range h.events {
		s = append(s, e.Status())
	}
	return s
}

func (h *statusHost) last() *componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		return nil
	}
	return h.events[len(h.events)-1]
}

func newTestScraper(t *testing.T, k *fakeKernel, clk *fakeClock, id component.ID, ifaces ...string) *xdpScraper {
	t.Helper()
	set := receivertest.NewNopSettings(component.MustNewType("xdp"))
	set.ID = id
	s := newScraper(testConfig(ifaces...), set, k, k, clk.now)
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })
	return s
}

// seriesKey identifies a series across scrapes.
type seriesKey struct {
	metric, iface, network, transport string
}

// ledger checks the delta invariants over a sequence of scrapes: every
// point starts where the previous point of its series ended, and the
// points of a series add up to the kernel's count. K identifies a series;
// key derives it, and its interface, from a point, or says what is wrong.
type ledger[K comparable] struct {
	key  func(m pmetric.Metric, dp pmetric.NumberDataPoint) (k K, iface string, err error)
	last map[K]pcommon.Timestamp
	sum  map[K]int64
}

// newLedger is a ledger of xdp.packets and xdp.bytes.
func newLedger() *ledger[seriesKey] {
	return &ledger[seriesKey]{
		key: func(m pmetric.Metric, dp pmetric.NumberDataPoint) (seriesKey, string, error) {
			k := keyOf(m, dp)
			return k, k.iface, nil
		},
		last: map[seriesKey]pcommon.Timestamp{},
		sum:  map[seriesKey]int64{},
	}
}

// add checks md's points against the series so far. first gives the start
// a series' first point must have: its interface's attachment time.
func (l *ledger[K]) add(t *testing.T, md pmetric.Metrics, first func(iface string) pcommon.Timestamp) {
	t.Helper()
	forEachPoint(md, func(m pmetric.Metric, dp pmetric.NumberDataPoint) {
		k, iface, err := l.key(m, dp)
		if err != nil {
			t.Error(err)
			return
		}
		want, seen := l.last[k]
		if !seen {
			want = first(iface)
		}
		if dp.StartTimestamp() != want {
			t.Errorf("%v: point (%v, %v] does not start where it should, at %v", k, dp.StartTimestamp(), dp.Timestamp(), want)
		}
		if dp.Timestamp() <= dp.StartTimestamp() {
			t.Errorf("%v: empty or reversed interval (%v, %v]", k, dp.StartTimestamp(), dp.Timestamp())
		}
		if dp.IntValue() < 0 {
			t.Errorf("%v: negative delta %d", k, dp.IntValue())
		}
		l.last[k] = dp.Timestamp()
		l.sum[k] += dp.IntValue()
	})
}

func forEachPoint(md pmetric.Metrics, f func(pmetric.Metric, pmetric.NumberDataPoint)) {
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				dps := m.Sum().DataPoints()
				for p := 0; p < dps.Len(); p++ {
					f(m, dps.At(p))
				}
			}
		}
	}
}

func keyOf(m pmetric.Metric, dp pmetric.NumberDataPoint) seriesKey {
	get := func(k string) string {
		v, _ := dp.Attributes().Get(k)
		return v.Str()
	}
	return seriesKey{m.Name(), get("network.interface.name"), get("network.type"), get("network.transport")}
}

type receiverSettings = receiver.Settings

func nopSettings() receiver.Settings {
	return receivertest.NewNopSettings(component.MustNewType("xdp"))
}

// rename renames the interface, as `ip link set name` does: same index,
// and a new link message under the new name only.
func (k *fakeKernel) rename(from, to string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	index := k.links[from]
	delete(k.links, from)
	k.links[to] = index
	k.notify(unix.RTM_NEWLINK, to, index)
}
