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

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
)

// fakeKernel stands in for package bpf and for the kernel's links: every
// interface has counters the test sets, attach and read errors the test
// injects, and links the test creates and deletes, which the receiver
// hears of through a fake subscription.
type fakeKernel struct {
	mu         sync.Mutex
	counters   map[string]*fakeCounter // the latest attachment of each interface
	attachErrs map[string]error
	attaches   []string // every successful attach, in order
	links      map[string]int
	altNames   map[string]string // alternative name -> interface name
	nextIndex  int
	nextSlot   uint32
	subs       []chan<- links.Event
	subErr     error
	readErr    error            // what the datapath's batch read returns
	slotZero   bpf.Counts       // the datapath's slot 0: packets that met no slot
	checkErr   error            // what openProgram returns
	checks     []bpf.CustomSpec // every openProgram, in order
	datapaths  int              // loaded and not closed
	dirs       []bpf.Direction  // the directions the last attach attached
	// gates hold the attach of an interface until closed, as the kernel
	// holds a TCX attach for an RCU grace period.
	gates map[string]chan struct{}
}

type fakeCounter struct {
	k        *fakeKernel
	name     string
	ifindex  int
	slotNo   uint32
	totals   bpf.Counts
	keys     map[uint32]uint64 // a program's counter map
	err      error             // a program's read error
	detached bool              // by the receiver, from outside, or by the interface's deletion
	gone     bool              // the interface was deleted
	releases int
	mode     bpf.Mode
	queries  int // of attached()
}

func newFakeKernel() *fakeKernel {
	k := &fakeKernel{counters: map[string]*fakeCounter{}, attachErrs: map[string]error{}, links: map[string]int{"lo": 1},
		altNames: map[string]string{}, nextIndex: 2, nextSlot: 1}
	for _, name := range []string{"eth0", "eth1", "eth2"} {
		k.links[name] = k.nextIndex
		k.nextIndex++
	}
	return k
}

// kernel is the fake as the scraper takes it.
func (k *fakeKernel) kernel() kernel[slotHandle, programHandle] {
	return kernel[slotHandle, programHandle]{
		loadDatapath: func(bpf.Options) (datapath[slotHandle], error) {
			k.mu.Lock()
			defer k.mu.Unlock()
			k.datapaths++
			return &fakeDatapath{k: k}, nil
		},
		openProgram: k.openProgram,
		links:       k,
	}
}

// attach counts iface: the datapath's open and attach, and a program's.
func (k *fakeKernel) attach(iface string, mode bpf.Mode) (*fakeCounter, error) {
	k.mu.Lock()
	gate := k.gates[iface]
	k.mu.Unlock()
	if gate != nil {
		<-gate
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.attachErrs[iface]; err != nil {
		return nil, err
	}
	name := iface
	if n, ok := k.altNames[iface]; ok {
		name = n
	}
	index, ok := k.links[name]
	if !ok {
		return nil, &bpf.InterfaceNotFoundError{Name: iface}
	}
	if c, ok := k.counters[iface]; ok && c.releases == 0 && !c.detached {
		return nil, fmt.Errorf("fake: %q attached twice", iface)
	}
	c := &fakeCounter{k: k, name: iface, ifindex: index, slotNo: k.nextSlot, mode: mode}
	k.nextSlot++
	k.counters[iface] = c
	k.attaches = append(k.attaches, iface)
	return c, nil
}

// fakeDatapath is a datapath whose read copies every counter.
type fakeDatapath struct {
	k *fakeKernel
}

func (d *fakeDatapath) Open(name string) (slotHandle, error) {
	c, err := d.k.attach(name, bpf.ModeAuto)
	if err != nil {
		return nil, err
	}
	return &fakeSlot{c}, nil
}

func (d *fakeDatapath) Read(s *bpf.Snapshot) error {
	d.k.mu.Lock()
	defer d.k.mu.Unlock()
	if d.k.readErr != nil {
		return d.k.readErr
	}
	*s = append((*s)[:0], make(bpf.Snapshot, d.k.nextSlot)...)
	(*s)[0] = d.k.slotZero
	for _, c := range d.k.counters {
		if c.releases == 0 {
			(*s)[c.slotNo] = c.totals
		}
	}
	return nil
}

func (d *fakeDatapath) ReadSlot(slot uint32) (bpf.Counts, error) {
	d.k.mu.Lock()
	defer d.k.mu.Unlock()
	for _, c := range d.k.counters {
		if c.slotNo == slot {
			if c.releases > 0 {
				return bpf.Counts{}, errors.New("fake: read of a released slot")
			}
			return c.totals, nil
		}
	}
	return bpf.Counts{}, nil
}

func (d *fakeDatapath) Close() error {
	d.k.mu.Lock()
	defer d.k.mu.Unlock()
	d.k.datapaths--
	return nil
}

// fakeSlot is an interface of the fake datapath.
type fakeSlot struct{ *fakeCounter }

func (s *fakeSlot) Ifindex() int { return s.ifindex }
func (s *fakeSlot) Slot() uint32 { return s.slotNo }

func (s *fakeSlot) Attach(dir bpf.Direction, _ bpf.Mode) (bpf.Placement, error) {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	s.k.dirs = append(s.k.dirs, dir)
	return bpf.Placement{Hook: bpf.HookTCX, Reason: "fake"}, nil
}

func (s *fakeSlot) Attached() (bool, error) {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	s.queries++
	return !s.detached, nil
}

func (c *fakeCounter) Detach() error {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	c.detached = true
	return nil
}

func (c *fakeCounter) Release() error {
	c.k.mu.Lock()
	defer c.k.mu.Unlock()
	c.detached = true
	c.releases++
	return nil
}

func (k *fakeKernel) openProgram(spec bpf.CustomSpec) (programObject[programHandle], error) {
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
func (o fakeObject) Attach(iface string, mode bpf.Mode) (programHandle, error) {
	c, err := o.k.attach(iface, mode)
	if err != nil {
		return nil, err
	}
	return &fakeProgram{c}, nil
}

type fakeProgram struct{ *fakeCounter }

func (p *fakeProgram) Ifindex() int   { return p.ifindex }
func (p *fakeProgram) Mode() bpf.Mode { return p.mode }
func (p *fakeProgram) Close() error   { return p.Release() }

func (p *fakeProgram) Read(dst map[uint32]uint64) error {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	if p.releases > 0 {
		return errors.New("fake: read after release")
	}
	if p.err != nil {
		return p.err
	}
	clear(dst)
	maps.Copy(dst, p.keys)
	return nil
}

func (p *fakeProgram) Attached() (bool, error) {
	p.k.mu.Lock()
	defer p.k.mu.Unlock()
	return !p.detached, nil
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

// releases is how many times the latest attachment of iface was released.
func (k *fakeKernel) closes(iface string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	if c, ok := k.counters[iface]; ok {
		return c.releases
	}
	return -1
}

func (k *fakeKernel) list() ([]links.Link, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []links.Link
	for name, index := range k.links {
		out = append(out, k.linkLocked(name, index))
	}
	return out, nil
}

func (k *fakeKernel) linkLocked(name string, index int) links.Link {
	l := links.Link{Index: index, Name: name}
	for alt, n := range k.altNames {
		if n == name {
			l.AltNames = append(l.AltNames, alt)
		}
	}
	return l
}

func (k *fakeKernel) index(name string) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if n, ok := k.altNames[name]; ok {
		name = n
	}
	return k.links[name], nil
}

// subscribe hands events to the test's link changes until done is closed.
// The fake never fails once subscribed: end ends the subscription as an
// overflow would.
func (k *fakeKernel) subscribe(ch chan<- links.Event, done <-chan struct{}, _ func(error)) error {
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
	k.notify(links.Added, k.linkLocked(name, index))
	return index
}

// delLink deletes the interface: its counter stops, frozen, and
// subscribers are told.
func (k *fakeKernel) delLink(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	index := k.links[name]
	l := k.linkLocked(name, index)
	delete(k.links, name)
	for _, c := range k.counters {
		if c.ifindex == index {
			c.detached, c.gone = true, true
		}
	}
	k.notify(links.Deleted, l)
}

// detach detaches the counter from outside, as bpftool link detach does.
func (k *fakeKernel) detach(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.counters[name].detached = true
}

func (k *fakeKernel) notify(typ links.EventType, l links.Link) {
	for _, ch := range k.subs {
		ch <- links.Event{Type: typ, Link: l}
	}
}

func (k *fakeKernel) attachCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.attaches)
}

// add counts packets of the given class and size, received, on an attached
// interface.
func (k *fakeKernel) add(t *testing.T, iface string, class bpf.Class, packets, size uint64) {
	t.Helper()
	k.addDir(t, iface, bpf.Receive, class, packets, size)
}

// addDir counts packets of the given class and size in direction dir.
func (k *fakeKernel) addDir(t *testing.T, iface string, dir bpf.Direction, class bpf.Class, packets, size uint64) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.counters[iface]
	if !ok {
		t.Fatalf("fake: %q is not attached", iface)
	}
	if c.detached {
		return // nothing counts on a detached interface
	}
	c.totals.Dir[dir][class.Index()].Packets += packets
	c.totals.Dir[dir][class.Index()].Bytes += packets * size
}

func (k *fakeKernel) set(t *testing.T, iface string, class bpf.Class, packets, bytes uint64) {
	t.Helper()
	k.mu.Lock()
	defer k.mu.Unlock()
	k.counters[iface].totals.Dir[bpf.Receive][class.Index()] = bpf.Counter{Packets: packets, Bytes: bytes}
}

// setReadErr makes a program's reads of iface fail, or the datapath's
// batch reads when iface is "".
func (k *fakeKernel) setReadErr(iface string, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if iface == "" {
		k.readErr = err
		return
	}
	k.counters[iface].err = err
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

// statuses are the changes of status, from OK, where a component starts:
// the receiver also reports OK, and the same status again, when only the
// hooks it describes change.
func (h *statusHost) statuses() []componentstatus.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s []componentstatus.Status
	prev := componentstatus.StatusOK
	for _, e := range h.events {
		if e.Status() != prev {
			s = append(s, e.Status())
			prev = e.Status()
		}
	}
	return s
}

// reports is how many status events the receiver reported.
func (h *statusHost) reports() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

func (h *statusHost) last() *componentstatus.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) == 0 {
		return nil
	}
	return h.events[len(h.events)-1]
}

// newConfiguredScraper is a scraper with cfg on the fake kernel, shut down
// when the test ends.
func newConfiguredScraper(t *testing.T, k *fakeKernel, clk *fakeClock, cfg *Config) *xdpScraper {
	t.Helper()
	s := newScraper(cfg, nopSettings(), k.kernel(), clk.now)
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })
	return s
}

func newTestScraper(t *testing.T, k *fakeKernel, clk *fakeClock, id component.ID, ifaces ...string) *xdpScraper {
	t.Helper()
	set := receivertest.NewNopSettings(component.MustNewType("xdp"))
	set.ID = id
	s := newScraper(testConfig(ifaces...), set, k.kernel(), clk.now)
	t.Cleanup(func() { _ = s.shutdown(context.Background()) })
	return s
}

// seriesKey identifies a series across scrapes.
type seriesKey struct {
	metric, iface, direction, network, transport string
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
	return seriesKey{m.Name(), get("network.interface.name"), get("network.io.direction"), get("network.type"), get("network.transport")}
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
	k.notify(links.Added, k.linkLocked(to, index))
}

// startListed starts s and waits until its watch has applied the listing
// of interfaces made at start, which happens in the background: then every
// interface present at start that a pattern matches is attached (or
// faulted), as the tests expect.
func startListed(tb testing.TB, s *xdpScraper, host component.Host) error {
	tb.Helper()
	if err := s.start(tb.Context(), host); err != nil {
		return err
	}
	s.mu.Lock()
	w := s.watch
	s.mu.Unlock()
	if w != nil {
		select {
		case <-w.listed:
		case <-time.After(30 * time.Second):
			tb.Fatal("the watch did not apply the initial listing within 30s")
		}
	}
	return nil
}
