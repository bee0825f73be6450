//go:build linux

package xdptest

import "testing"

// TestOverlayCarriesAStreamInVXLAN streams across the overlay, out of the
// host: every frame the host's VXLAN device sends crosses the pair's host
// end once, VXLAN bytes longer, and the transfer arrives whole (Stream
// checks that).
func TestOverlayCarriesAStreamInVXLAN(t *testing.T) {
	p := NewPair(t)
	o := NewOverlay(t, p)
	if !IsTestInterface(o.Host) {
		t.Errorf("IsTestInterface(%q) = false", o.Host)
	}
	vx, veth := linkByName(t, o.Host).Attrs().Statistics, linkByName(t, p.Host).Attrs().Statistics
	const size = 4 << 20
	r := o.Stream(t, size, true)
	vx2, veth2 := linkByName(t, o.Host).Attrs().Statistics, linkByName(t, p.Host).Attrs().Statistics
	if r.Sender.PayloadBytes < size {
		t.Errorf("TCP sent %d bytes of a %d-byte stream", r.Sender.PayloadBytes, size)
	}
	packets, bytes := vx2.TxPackets-vx.TxPackets, vx2.TxBytes-vx.TxBytes
	// The VXLAN device's statistics leave the inner Ethernet header out.
	want := bytes + (VXLAN+14)*packets
	// The underlay's own ARP, a request or a reply of 42 bytes, is all
	// that the host end may send besides.
	if got := veth2.TxBytes - veth.TxBytes; got < want || got > want+2*42 {
		t.Errorf("%q sent %d bytes for the %d packets, %d bytes, that %q sent; want %d", p.Host, got, packets, bytes, o.Host, want)
	}
	if bytes < size {
		t.Errorf("%q sent %d bytes of a %d-byte stream", o.Host, bytes, size)
	}
}
