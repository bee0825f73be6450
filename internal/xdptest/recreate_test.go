//go:build linux

package xdptest

import "testing"

// TestRecreate: after DeleteHost, Recreate makes a new pair under the same
// names, with a new index, and frames injected from the peer, flooded, and
// sent out of the host end arrive as before: the sockets outlive the
// interfaces.
func TestRecreate(t *testing.T) {
	p := NewPair(t)
	p.Send(t, Frames()[0].Data) // opens the host's socket before the deletion
	old := p.HostIndex
	p.DeleteHost(t)
	p.Recreate(t)
	if index := linkByName(t, p.Host).Attrs().Index; index != p.HostIndex || index == old {
		t.Errorf("%q has index %d after Recreate, HostIndex %d; want a new index, not %d", p.Host, index, p.HostIndex, old)
	}
	before := received(t, p, false)
	p.Inject(t, Frames()[0].Data)
	if sent := p.Flood(t, Frames()[0].Data, 10); sent != 10 {
		t.Errorf("Flood sent %d frames, want 10", sent)
	}
	requireReceived(t, p, false, before, 11)
	before = received(t, p, true)
	p.Send(t, Frames()[0].Data)
	requireReceived(t, p, true, before, 1)
}
