//go:build linux

package xdptest

import "testing"

// floodFrames is how many frames the flood tests send: more than a
// sendmmsg batch, fewer than a CPU's backlog holds, so that none is
// dropped for want of room.
const floodFrames = 3*floodBatch + 7

// TestFlood: Flood reports every frame sent, and the host end receives
// exactly those.
func TestFlood(t *testing.T) {
	p := NewPair(t)
	before := received(t, p, false)
	if sent := p.Flood(t, Frames()[1].Data, floodFrames); sent != floodFrames {
		t.Errorf("Flood sent %d frames, want %d", sent, floodFrames)
	}
	requireReceived(t, p, false, before, floodFrames)
}

// TestFloodOut: FloodOut reports every frame sent out of the host end,
// and the peer receives exactly those; frames refused are sent again, not
// counted as sent.
func TestFloodOut(t *testing.T) {
	p := NewPair(t)
	before := received(t, p, true)
	sent, refused := p.FloodOut(t, Frames()[1].Data, floodFrames)
	if sent != floodFrames {
		t.Errorf("FloodOut sent %d frames (%d refused), want %d", sent, refused, floodFrames)
	}
	requireReceived(t, p, true, before, uint64(sent))
}

// TestFloodStopsWhenThePairGoes: on a pair deleted under it, Flood and
// FloodOut stop at once, without failing the test, which deletes
// interfaces mid-flood on purpose.
func TestFloodStopsWhenThePairGoes(t *testing.T) {
	p := NewPair(t)
	p.Send(t, Frames()[0].Data) // the host's socket, opened while the host end exists
	p.DeleteHost(t)
	if sent := p.Flood(t, Frames()[1].Data, floodFrames); sent != 0 {
		t.Errorf("Flood sent %d frames from a deleted peer", sent)
	}
	if sent, _ := p.FloodOut(t, Frames()[1].Data, floodFrames); sent != 0 {
		t.Errorf("FloodOut sent %d frames out of a deleted interface", sent)
	}
}
