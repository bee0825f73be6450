//go:build linux

package xdpreceiver

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestLinuxKernelDatapath drives the built-in counter through
// linuxKernel's adapters, as the receiver does, without the receiver: the
// interface it opens counts in its slot what arrives, a batch read and a
// read of the slot agree, and detach, release and close leave nothing
// attached.
func TestLinuxKernelDatapath(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	dp, err := linuxKernel().loadDatapath(bpf.Options{Capacity: 2})
	require.NoError(t, err)
	t.Cleanup(func() { _ = dp.Close() })
	_, err = dp.Open("xdpnosuch9")
	require.ErrorIs(t, err, bpf.ErrInterfaceNotFound)

	ifc, err := dp.Open(p.Host)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ifc.Release() })
	assert.Equal(t, p.HostIndex, ifc.Ifindex())
	assert.Equal(t, uint32(1), ifc.Slot(), "the first slot")
	a, err := ifc.Attach(bpf.Receive, bpf.ModeTC)
	require.NoError(t, err)
	assert.Equal(t, bpf.Placement{Hook: bpf.HookTCX, Reason: "attach_mode: tc", ProgramID: a.ProgramID}, a)
	assert.NotZero(t, a.ProgramID)
	ok, err := ifc.Attached()
	require.NoError(t, err)
	assert.True(t, ok)

	var want xdptest.Totals
	for _, f := range xdptest.Frames() {
		p.Inject(t, f.Data)
		want[f.Class.Index()].Packets++
		want[f.Class.Index()].Bytes += uint64(len(f.Data))
	}
	var snap bpf.Snapshot
	require.Eventually(t, func() bool {
		return dp.Read(&snap) == nil && snap.Slot(ifc.Slot()).Dir[bpf.Receive] == want
	}, 5*time.Second, 10*time.Millisecond, "the slot counts every frame injected")
	require.NoError(t, dp.Read(&snap))
	assert.Equal(t, want, snap.Slot(ifc.Slot()).Dir[bpf.Receive])
	now, err := dp.ReadSlot(ifc.Slot())
	require.NoError(t, err)
	assert.Equal(t, *snap.Slot(ifc.Slot()), now, "a read of the slot and the batch read agree")

	require.NoError(t, ifc.Detach())
	xdptest.RequireDetached(t, p.Host)
	require.NoError(t, ifc.Release())
	require.NoError(t, dp.Close())
}

// TestLinuxKernelProgram drives a user's program through linuxKernel's
// adapters: it attaches in the mode asked for, its map counts what
// arrives, and detach and release leave nothing attached.
func TestLinuxKernelProgram(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	o, err := linuxKernel().openProgram(bpf.CustomSpec{Object: portCountObject(t), Function: "xdp_count", Map: "packet_count"})
	require.NoError(t, err)
	a, err := o.Attach(p.Host, bpf.ModeGeneric)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	assert.Equal(t, p.HostIndex, a.Ifindex())
	assert.Equal(t, bpf.ModeGeneric, a.Mode())
	ok, err := a.Attached()
	require.NoError(t, err)
	assert.True(t, ok)

	for _, port := range []uint16{53, 53, 443} {
		udp := xdptest.UDP(port, 8)
		p.Inject(t, xdptest.Cat(xdptest.Eth(xdptest.EtherIPv4), xdptest.IPv4(xdptest.ProtoUDP, nil, len(udp)), udp))
	}
	require.Eventually(t, func() bool {
		got := map[uint32]uint64{}
		return a.Read(got) == nil && got[53] == 2 && got[443] == 1
	}, 5*time.Second, 10*time.Millisecond, "the map counts by destination port")
	got := map[uint32]uint64{}
	require.NoError(t, a.Read(got))
	assert.Equal(t, map[uint32]uint64{53: 2, 443: 1}, got)

	require.NoError(t, a.Detach())
	ok, err = a.Attached()
	require.NoError(t, err)
	assert.False(t, ok, "detached")
	xdptest.RequireDetached(t, p.Host)
	require.NoError(t, a.Close())
}

// TestLinuxKernelLinks: linuxKernel's links are rtnetlink's: the listing
// and a lookup find an interface by its index, a missing one has index 0,
// and a subscription hears of an interface created after it.
func TestLinuxKernelLinks(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	ls := linuxKernel().links
	all, err := ls.list()
	require.NoError(t, err)
	assert.Contains(t, all, links.Link{Index: p.HostIndex, Name: p.Host})
	index, err := ls.index(p.Host)
	require.NoError(t, err)
	assert.Equal(t, p.HostIndex, index)
	index, err = ls.index("xdpnosuch9")
	require.NoError(t, err)
	assert.Zero(t, index, "no such interface")

	events, done := make(chan links.Event, 64), make(chan struct{})
	onErr := func(err error) {
		select {
		case <-done: // the socket closed as asked
		default:
			t.Errorf("subscription: %v", err)
		}
	}
	require.NoError(t, ls.subscribe(events, done, onErr))
	var once sync.Once
	stop := func() {
		once.Do(func() {
			close(done)
			for range events { // let the subscription's goroutines end
			}
		})
	}
	t.Cleanup(stop)
	later := xdptest.NewPair(t)
	timeout := time.After(5 * time.Second)
	for heard := false; !heard; {
		select {
		case e, ok := <-events:
			require.True(t, ok, "the subscription ended")
			heard = e.Type == links.Added && e.Link.Name == later.Host && e.Link.Index == later.HostIndex
		case <-timeout:
			t.Fatalf("no event for %q within 5 s", later.Host)
		}
	}
}
