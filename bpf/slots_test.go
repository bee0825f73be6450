//go:build linux

package bpf_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestSlotIndexCollision has two interfaces whose indexes fall on the same
// position of the slot index: the second's slot is found in the slots hash,
// and both count exactly their own packets; once the first is gone, a third
// takes the position.
func TestSlotIndexCollision(t *testing.T) {
	base := 40000 + int(time.Now().UnixNano()%1000)
	d := newDatapath(t, bpf.Options{})
	p1, p2 := xdptest.NewPairIndexed(t, base), xdptest.NewPairIndexed(t, base+4096)
	i1, i2 := open(t, d, p1.Host), open(t, d, p2.Host)
	attachBoth(t, bpf.ModeTC, i1, i2)
	var want1, want2 bpf.Counts
	trafficBothWays(t, p1, 1, &want1)
	trafficBothWays(t, p2, 2, &want2)
	waitFor(t, d, i1, want1)
	waitFor(t, d, i2, want2)

	if err := i1.Release(); err != nil {
		t.Fatal(err)
	}
	p3 := xdptest.NewPairIndexed(t, base+2*4096)
	i3 := open(t, d, p3.Host)
	attach(t, i3, bpf.Receive, bpf.ModeTC)
	var want3 bpf.Counts
	trafficBothWays(t, p3, 1, &want3)
	want3.Dir[bpf.Transmit] = xdptest.Totals{} // only receive is attached
	waitFor(t, d, i3, want3)
	trafficBothWays(t, p2, 1, &want2)
	waitFor(t, d, i2, want2)
}

// TestSlotReuseStartsFromZero: a released slot serves the next interface,
// whose counters start from zero.
func TestSlotReuseStartsFromZero(t *testing.T) {
	d := newDatapath(t, bpf.Options{Capacity: 1})
	p1, p2 := xdptest.NewPair(t), xdptest.NewPair(t)
	i1 := open(t, d, p1.Host)
	attach(t, i1, bpf.Receive, bpf.ModeAuto)
	var want bpf.Counts
	for _, f := range xdptest.Frames() {
		p1.Inject(t, f.Data)
		add(&want, bpf.Receive, f)
	}
	waitFor(t, d, i1, want)
	if _, err := d.Open(p2.Host); !errors.Is(err, bpf.ErrCapacity) {
		t.Fatalf("a second interface in a datapath for one: %v, want ErrCapacity", err)
	}
	if err := i1.Release(); err != nil {
		t.Fatal(err)
	}
	i2 := open(t, d, p2.Host)
	if i2.Slot() != i1.Slot() {
		t.Fatalf("slot %d, want the released slot %d", i2.Slot(), i1.Slot())
	}
	if got := counts(t, d, i2); got != (bpf.Counts{}) {
		t.Errorf("a reused slot starts at %v, want zeros", got)
	}
	attach(t, i2, bpf.Receive, bpf.ModeAuto)
	p1.Inject(t, xdptest.Frames()[0].Data) // i1 is detached: not counted anywhere
	want = bpf.Counts{}
	for _, f := range xdptest.Frames()[:3] {
		p2.Inject(t, f.Data)
		add(&want, bpf.Receive, f)
	}
	waitFor(t, d, i2, want)
	var s bpf.Snapshot
	if err := d.Read(&s); err != nil {
		t.Fatal(err)
	}
	if got := *s.Unattributed(); got != (bpf.Counts{}) {
		t.Errorf("packets met no slot: %v", got)
	}
}

// TestReleasedSlotsRestOldestFirst: the slot released first serves the
// next interface, so that a slot rests as long as possible before it
// counts again, and a late packet of its old interface would have the
// longest time to land before the slot is cleared for a new one.
func TestReleasedSlotsRestOldestFirst(t *testing.T) {
	d := newDatapath(t, bpf.Options{Capacity: 3})
	ps := xdptest.NewPairs(t, 5)
	var ifcs []*bpf.Interface
	for i, p := range ps.Pairs[:3] {
		ifc := open(t, d, p.Host)
		if want := uint32(i + 1); ifc.Slot() != want {
			t.Fatalf("%s got slot %d, want %d: slots are handed out in order, from 1", p.Host, ifc.Slot(), want)
		}
		ifcs = append(ifcs, ifc)
	}
	for _, ifc := range []*bpf.Interface{ifcs[1], ifcs[0]} {
		if err := ifc.Release(); err != nil {
			t.Fatal(err)
		}
	}
	for i, want := range []uint32{ifcs[1].Slot(), ifcs[0].Slot()} {
		if got := open(t, d, ps.Pairs[3+i].Host).Slot(); got != want {
			t.Errorf("open %d after the releases: slot %d, want %d, the one released earliest", i+1, got, want)
		}
	}
}

// TestOpenTwiceKeepsTheSlotFree opens an interface that holds a slot
// already: Open refuses, and the slot it took for the second open goes
// back, so the datapath's capacity does not shrink by a refused Open.
func TestOpenTwiceKeepsTheSlotFree(t *testing.T) {
	d := newDatapath(t, bpf.Options{Capacity: 2})
	p := xdptest.NewPair(t)
	open(t, d, p.Host)
	if _, err := d.Open(p.Host); err == nil || !strings.Contains(err.Error(), "has a slot already") {
		t.Fatalf("opening %q twice: got %v, want an error saying it has a slot already", p.Host, err)
	}
	other := xdptest.NewPair(t)
	ifc, err := d.Open(other.Host)
	if errors.Is(err, bpf.ErrCapacity) {
		t.Fatal("the refused Open kept its slot: the datapath for two is full with one interface")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ifc.Release() })
	if ifc.Slot() != 2 {
		t.Errorf("slot %d, want 2, the slot the refused Open gave back", ifc.Slot())
	}
}
