//go:build linux

package bpf_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestLayerOf: devices that carry IP without a link-layer header, by their
// hardware type as netlink names it, take the programs for IP; Ethernet,
// loopback and types it does not know, the programs for Ethernet.
func TestLayerOf(t *testing.T) {
	for encap, want := range map[string]bpf.Layer{
		"ether": bpf.LayerEthernet, "loopback": bpf.LayerEthernet, "infiniband": bpf.LayerEthernet,
		"none": bpf.LayerIP, "ipip": bpf.LayerIP, "tunnel6": bpf.LayerIP, "sit": bpf.LayerIP, "gre": bpf.LayerIP,
		"ppp": bpf.LayerIP, fmt.Sprintf("unknown%d", unix.ARPHRD_RAWIP): bpf.LayerIP,
		fmt.Sprintf("unknown%d", unix.ARPHRD_IP6GRE): bpf.LayerIP,
	} {
		l := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "x", EncapType: encap}}
		if got := bpf.LayerOf(l); got != want {
			t.Errorf("LayerOf(a link of type %q) = %v, want %v", encap, got, want)
		}
	}
}

// TestProgramForEachLayer: ProgramFor returns the program of the layer,
// hook and direction, and Program the one for Ethernet.
func TestProgramForEachLayer(t *testing.T) {
	d := newDatapath(t, bpf.Options{Capacity: 1})
	for _, tc := range []struct {
		layer bpf.Layer
		xdp   bool
		dir   bpf.Direction
		name  string
	}{
		{bpf.LayerIP, true, bpf.Receive, "xdp_count_l3"},
		{bpf.LayerIP, false, bpf.Receive, "tc_count_rx_l3"},
		{bpf.LayerIP, false, bpf.Transmit, "tc_count_tx_l3"},
		{bpf.LayerEthernet, true, bpf.Receive, "xdp_count"},
		{bpf.LayerEthernet, false, bpf.Receive, "tc_count_rx"},
		{bpf.LayerEthernet, false, bpf.Transmit, "tc_count_tx"},
	} {
		if got := programName(t, d.ProgramFor(tc.layer, tc.xdp, tc.dir)); got != tc.name {
			t.Errorf("ProgramFor(%v, %v, %v) = %q, want %q", tc.layer, tc.xdp, tc.dir, got, tc.name)
		}
		if tc.layer == bpf.LayerEthernet && d.Program(tc.xdp, tc.dir) != d.ProgramFor(tc.layer, tc.xdp, tc.dir) {
			t.Errorf("Program(%v, %v) is not ProgramFor(ethernet, ...)", tc.xdp, tc.dir)
		}
	}
}

func programName(t *testing.T, p *ebpf.Program) string {
	t.Helper()
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	return info.Name
}

func programOfID(t *testing.T, id uint32) string {
	t.Helper()
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
	if err != nil {
		t.Fatalf("program %d: %v", id, err)
	}
	defer p.Close()
	return programName(t, p)
}

// onTun loads a datapath inside the tun's namespace, where the tun is,
// opens the tun and attaches both directions, receive in mode. Both are
// undone when the test ends.
func onTun(t *testing.T, tn *xdptest.Tun, mode bpf.Mode) (*bpf.Datapath, *bpf.Interface, [bpf.NumDirections]bpf.Placement) {
	t.Helper()
	var d *bpf.Datapath
	var ifc *bpf.Interface
	var as [bpf.NumDirections]bpf.Placement
	err := tn.Do(func() (err error) {
		// Load and Attach name the interface in the namespace of their
		// thread: its netlink socket, and its attach requests.
		if d, err = bpf.Load(bpf.Options{Capacity: 2}); err != nil {
			return err
		}
		t.Cleanup(func() { d.Close() })
		if ifc, err = d.Open(tn.Name); err != nil {
			return err
		}
		t.Cleanup(func() { ifc.Release() })
		if as[bpf.Receive], err = ifc.Attach(bpf.Receive, mode); err != nil {
			return err
		}
		as[bpf.Transmit], err = ifc.Attach(bpf.Transmit, mode)
		return err
	})
	if err != nil {
		t.Fatalf("counting on %q in %v mode: %v", tn.Name, mode, err)
	}
	return d, ifc, as
}

// TestCountsEveryClassOnATun counts on a tun, a device without a link
// layer, whose packets start at the IP header: every IP class of the
// catalog, IPv4 and IPv6, each way, counts exactly, with the IP packet's
// bytes, at every hook that runs there. Receive: the packets written into
// the tun, which the kernel receives. Transmit: the same packets, which
// the kernel routes out through the tun (or, where it would refuse a
// malformed header, sends out as they are), and a packet of another
// protocol; the test reads every one of them back from the tun.
func TestCountsEveryClassOnATun(t *testing.T) {
	for _, tc := range []struct {
		mode bpf.Mode
		hook bpf.Hook
	}{
		{bpf.ModeAuto, bpf.HookTCX}, // a tun is virtual: TC
		{bpf.ModeTC, bpf.HookTCX},
		{bpf.ModeGeneric, bpf.HookXDPGeneric},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			tn := xdptest.NewTun(t)
			d, ifc, as := onTun(t, tn, tc.mode)
			if as[bpf.Receive].Hook != tc.hook || as[bpf.Transmit].Hook != bpf.HookTCX {
				t.Errorf("receive at %v (%s), transmit at %v; want %v and tcx", as[bpf.Receive].Hook, as[bpf.Receive].Reason, as[bpf.Transmit].Hook, tc.hook)
			}
			rxName, txName := "tc_count_rx_l3", "tc_count_tx_l3"
			if tc.hook == bpf.HookXDPGeneric {
				rxName = "xdp_count_l3"
			}
			if got := programOfID(t, as[bpf.Receive].ProgramID); got != rxName {
				t.Errorf("receive counted by %q, want %q", got, rxName)
			}
			if got := programOfID(t, as[bpf.Transmit].ProgramID); got != txName {
				t.Errorf("transmit counted by %q, want %q", got, txName)
			}

			var want bpf.Counts
			count := func(dir bpf.Direction, c bpf.Class, n int) {
				w := &want.Dir[dir][c.Index()]
				w.Packets++
				w.Bytes += uint64(n)
			}
			sent := 0
			for range 2 {
				for _, p := range xdptest.Packets() {
					tn.Write(t, p.Data)
					count(bpf.Receive, p.Class, len(p.Data))
					if p.Class.Transport == bpf.TransportNone && p.Data[0]>>4 == 4 && (len(p.Data) < 20 || p.Data[0] != 0x45) ||
						p.Class.Transport == bpf.TransportNone && p.Data[0]>>4 == 6 && len(p.Data) < 40 {
						tn.Send(t, 0, p.Data) // the kernel routes no malformed header
					} else {
						tn.Route(t, p.Data)
					}
					count(bpf.Transmit, p.Class, len(p.Data))
					sent++
				}
				// Neither IPv4 nor IPv6, whatever its first byte says.
				notIP := xdptest.Cat([]byte{0x45}, xdptest.Payload(45))
				tn.Send(t, xdptest.EtherLocal, notIP)
				count(bpf.Transmit, other, len(notIP))
				sent++
			}
			if got := tn.Read(t, sent, 2*time.Second); len(got) != sent {
				t.Errorf("read %d packets back from the tun, want the %d sent", len(got), sent)
			}
			waitFor(t, d, ifc, want)
		})
	}
}

// TestNativeXDPOnATun: a tun (IFF_TUN) has no native XDP, which only its
// tap mode has: the attach fails with ErrNoNativeXDP, and auto mode counts
// at TC.
func TestNativeXDPOnATun(t *testing.T) {
	t.Parallel()
	tn := xdptest.NewTun(t)
	err := tn.Do(func() error {
		d, err := bpf.Load(bpf.Options{Capacity: 1})
		if err != nil {
			return err
		}
		defer d.Close()
		ifc, err := d.Open(tn.Name)
		if err != nil {
			return err
		}
		defer ifc.Release()
		_, err = ifc.Attach(bpf.Receive, bpf.ModeNative)
		return err
	})
	if !errors.Is(err, bpf.ErrNoNativeXDP) {
		t.Errorf("native XDP on a tun: %v, want ErrNoNativeXDP", err)
	}
}
