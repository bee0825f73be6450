//go:build linux

package xdptest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// tunStats is what the tun's driver counted, read inside its namespace.
func (tn *Tun) stats(t *testing.T) *netlink.LinkStatistics {
	t.Helper()
	h, err := tn.ns.handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	l, err := h.LinkByIndex(tn.Index)
	if err != nil {
		t.Fatalf("looking up %q in its namespace: %v", tn.Name, err)
	}
	return l.Attrs().Statistics
}

// TestTunCarriesExactlyWhatTheTestSends: packets written into the tun are
// received and nothing answers them; packets routed or sent out of it are
// read back from it as they were sent, and nothing else comes out.
func TestTunCarriesExactlyWhatTheTestSends(t *testing.T) {
	tn := NewTun(t)
	if !IsTestInterface(tn.Name) {
		t.Errorf("IsTestInterface(%q) = false", tn.Name)
	}
	ps := Packets()
	before := tn.stats(t)
	for _, p := range ps {
		tn.Write(t, p.Data)
	}
	if got := tn.Read(t, 0, 100*time.Millisecond); len(got) != 0 {
		t.Errorf("writing %d packets into the tun made it send %d", len(ps), len(got))
	}
	if got := tn.stats(t).RxPackets - before.RxPackets; got != uint64(len(ps)) {
		t.Errorf("the tun received %d packets, want %d", got, len(ps))
	}

	var routed, sent [][]byte
	for _, p := range ps {
		if p.Class.Transport == bpf.TransportNone && len(p.Data) < 40 || p.Data[0] == 0x44 { // cut short or malformed
			sent = append(sent, p.Data)
		} else {
			routed = append(routed, p.Data)
		}
	}
	tn.Route(t, routed...)
	tn.Send(t, 0, sent...)
	got := tn.Read(t, len(routed)+len(sent), 2*time.Second)
	want := append(slices.Clone(routed), sent...)
	if len(got) != len(want) {
		t.Fatalf("read %d packets back from the tun, want %d", len(got), len(want))
	}
	for i := range want {
		// A routed IPv4 header gets an id and a checksum from the kernel.
		from := 0
		if i < len(routed) && want[i][0]>>4 == 4 {
			from = 20
		}
		if len(got[i]) != len(want[i]) || !bytes.Equal(got[i][from:], want[i][from:]) {
			t.Errorf("packet %d read back as % x, want % x", i, got[i], want[i])
		}
	}
}
