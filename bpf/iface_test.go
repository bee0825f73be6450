//go:build linux

package bpf_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// newDatapath loads a datapath for a few interfaces, closed when the test
// ends.
func newDatapath(t *testing.T, opts bpf.Options) *bpf.Datapath {
	t.Helper()
	xdptest.Privileged(t)
	if opts.Capacity == 0 {
		opts.Capacity = 8
	}
	d, err := bpf.Load(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// open opens the interface in d and releases it when the test ends.
func open(t *testing.T, d *bpf.Datapath, name string) *bpf.Interface {
	t.Helper()
	ifc, err := d.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ifc.Release() })
	return ifc
}

func attach(t *testing.T, ifc *bpf.Interface, dir bpf.Direction, mode bpf.Mode) bpf.Placement {
	t.Helper()
	a, err := ifc.Attach(dir, mode)
	if err != nil {
		t.Fatalf("attaching %s of %q in %v mode: %v", dir, ifc.Name(), mode, err)
	}
	return a
}

// attachBoth attaches both directions of each interface, receive where
// mode says.
func attachBoth(t *testing.T, mode bpf.Mode, ifcs ...*bpf.Interface) {
	t.Helper()
	for _, ifc := range ifcs {
		attach(t, ifc, bpf.Receive, mode)
		attach(t, ifc, bpf.Transmit, mode)
	}
}

func counts(t *testing.T, d *bpf.Datapath, ifc *bpf.Interface) bpf.Counts {
	t.Helper()
	var s bpf.Snapshot
	if err := d.Read(&s); err != nil {
		t.Fatal(err)
	}
	return *s.Slot(ifc.Slot())
}

// waitFor reads the interface's counters until they are want, and fails if
// they never are or if they count more. Frames cross a veth asynchronously,
// so the first reads may be short; a read past want is a counting bug.
func waitFor(t *testing.T, d *bpf.Datapath, ifc *bpf.Interface, want bpf.Counts) {
	t.Helper()
	got := counts(t, d, ifc)
	for deadline := time.Now().Add(5 * time.Second); got != want && time.Now().Before(deadline); got = counts(t, d, ifc) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // anything still in flight would show now
	got = counts(t, d, ifc)
	for dir := range got.Dir {
		for i := range got.Dir[dir] {
			if g, w := got.Dir[dir][i], want.Dir[dir][i]; g != w {
				t.Errorf("%s %s: class %v counted %d packets, %d bytes; want %d, %d",
					ifc.Name(), bpf.Direction(dir), bpf.ClassAt(i), g.Packets, g.Bytes, w.Packets, w.Bytes)
			}
		}
	}
}

// add counts f into want's direction dir, as the wire carries it: at TC
// ingress the device has taken an outer VLAN tag off into the skb, and the
// counter adds its four bytes back, so both hooks count the frame as sent.
func add(want *bpf.Counts, dir bpf.Direction, f xdptest.Frame) {
	c := &want.Dir[dir][f.Class.Index()]
	c.Packets++
	c.Bytes += uint64(len(f.Data))
}

// trafficBothWays injects every frame of the catalog into the host end
// (receive) and sends it out of it (transmit), rounds times.
func trafficBothWays(t *testing.T, p *xdptest.Pair, rounds int, want *bpf.Counts) {
	t.Helper()
	for range rounds {
		for _, f := range xdptest.Frames() {
			p.Inject(t, f.Data)
			add(want, bpf.Receive, f)
			p.Send(t, f.Data)
			add(want, bpf.Transmit, f)
		}
	}
}

// TestCountsBothDirectionsOnEveryHook attaches receive in every mode, and
// transmit, to a veth, and checks that every class of the catalog counts
// exactly, each way; then that Detach leaves no program behind.
func TestCountsBothDirectionsOnEveryHook(t *testing.T) {
	for _, tc := range []struct {
		mode bpf.Mode
		hook bpf.Hook
	}{
		{bpf.ModeAuto, bpf.HookTCX}, // a veth is virtual: TC
		{bpf.ModeTC, bpf.HookTCX},
		{bpf.ModeNative, bpf.HookXDPNative},
		{bpf.ModeGeneric, bpf.HookXDPGeneric},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			t.Parallel()
			d := newDatapath(t, bpf.Options{})
			p := xdptest.NewPair(t)
			ifc := open(t, d, p.Host)
			rx := attach(t, ifc, bpf.Receive, tc.mode)
			tx := attach(t, ifc, bpf.Transmit, tc.mode)
			if rx.Hook != tc.hook || tx.Hook != bpf.HookTCX {
				t.Errorf("receive at %v (%s), transmit at %v; want %v and tcx", rx.Hook, rx.Reason, tx.Hook, tc.hook)
			}
			if tc.mode == bpf.ModeAuto && rx.Reason != autoReason {
				t.Errorf("auto mode on a veth: reason %q", rx.Reason)
			}
			var want bpf.Counts
			trafficBothWays(t, p, 3, &want)
			waitFor(t, d, ifc, want)

			if ok, err := ifc.Attached(); !ok || err != nil {
				t.Errorf("Attached() = %v, %v while attached", ok, err)
			}
			if err := ifc.Detach(); err != nil {
				t.Fatal(err)
			}
			xdptest.RequireNoXDP(t, p.Host)
			xdptest.RequireNoTCX(t, p.Host)
			if got := counts(t, d, ifc); got != want {
				t.Errorf("after Detach the counts changed: %v, want %v", got, want)
			}
			if err := ifc.Detach(); err != nil {
				t.Errorf("second Detach: %v", err)
			}
		})
	}
}

func TestInterfacesNeverMix(t *testing.T) {
	d := newDatapath(t, bpf.Options{})
	p1, p2 := xdptest.NewPair(t), xdptest.NewPair(t)
	i1, i2 := open(t, d, p1.Host), open(t, d, p2.Host)
	attachBoth(t, bpf.ModeAuto, i1, i2)
	var want1, want2 bpf.Counts
	trafficBothWays(t, p1, 2, &want1)
	trafficBothWays(t, p2, 1, &want2)
	waitFor(t, d, i1, want1)
	waitFor(t, d, i2, want2)
}

// TestAttachedTellsWhenTheInterfaceIsGone deletes the interface under the
// attachment: the counts stay readable, frozen, and Attached says so.
func TestAttachedTellsWhenTheInterfaceIsGone(t *testing.T) {
	for _, mode := range []bpf.Mode{bpf.ModeTC, bpf.ModeNative} {
		t.Run(mode.String(), func(t *testing.T) {
			d := newDatapath(t, bpf.Options{})
			p := xdptest.NewPair(t)
			ifc := open(t, d, p.Host)
			attachBoth(t, mode, ifc)
			var want bpf.Counts
			trafficBothWays(t, p, 1, &want)
			waitFor(t, d, ifc, want)

			p.DeleteHost(t)
			if ok, err := ifc.Attached(); ok || err != nil {
				t.Errorf("Attached() = %v, %v after the interface was deleted; want false, nil", ok, err)
			}
			if got := counts(t, d, ifc); got != want {
				t.Errorf("read after deletion: %v; want the last counts %v", got, want)
			}
			if err := ifc.Detach(); err != nil {
				t.Errorf("Detach after deletion: %v", err)
			}
		})
	}
}

// TestDetachedFromOutside detaches the links from outside, as bpftool does:
// Attached says so.
func TestDetachedFromOutside(t *testing.T) {
	d := newDatapath(t, bpf.Options{})
	p := xdptest.NewPair(t)
	ifc := open(t, d, p.Host)
	attachBoth(t, bpf.ModeTC, ifc)
	xdptest.DetachTCXLinks(t, p.Host, 2)
	if ok, err := ifc.Attached(); ok || err != nil {
		t.Errorf("Attached() = %v, %v after its links were detached; want false, nil", ok, err)
	}
}

func TestOpenUnknownInterface(t *testing.T) {
	d := newDatapath(t, bpf.Options{})
	_, err := d.Open("nosuch0")
	if !errors.Is(err, bpf.ErrInterfaceNotFound) || err.Error() != `interface "nosuch0" not found` {
		t.Errorf("got %v, want ErrInterfaceNotFound naming the interface", err)
	}
}

// TestSIGKILLLeavesNothingAttached kills a process that counts both
// directions of an interface, at XDP and TCX, and checks that the kernel
// detached everything with the process: links die with their last file
// descriptor.
func TestSIGKILLLeavesNothingAttached(t *testing.T) {
	p := xdptest.NewPair(t)
	helper := startHelper(t, "TestHelperProcessCounts", p.Host, "native")
	if xdptest.XDPProgramID(t, p.Host) == 0 || len(xdptest.TCXPrograms(t, p.Host)) != 1 {
		t.Fatal("the helper process says it attached, but the interface has no XDP program, or not one TCX link")
	}
	helper.kill(t)
	xdptest.RequireNoXDP(t, p.Host)
	xdptest.RequireNoTCX(t, p.Host)
}

// helperProcess is a helper test running in a process of its own: its
// pid as it sees it, and the name of its clsact filters, if it added any.
type helperProcess struct {
	cmd     *exec.Cmd
	pid     string
	filters string
}

// startHelper runs the test binary's helper test in a process of its own,
// counting on iface in mode, and waits until it says it attached.
func startHelper(t *testing.T, test, iface, mode string, env ...string) *helperProcess {
	t.Helper()
	return startHelperCmd(t, exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1"), iface, mode, env...)
}

// startHelperCmd is startHelper with a command of the caller's: the test
// binary, as another user or in other namespaces.
func startHelperCmd(t *testing.T, cmd *exec.Cmd, iface, mode string, env ...string) *helperProcess {
	t.Helper()
	cmd.Env = append(append(os.Environ(), "XDP_HELPER_IFACE="+iface, "XDP_HELPER_MODE="+mode), env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	h := &helperProcess{cmd: cmd}
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		if v, ok := strings.CutPrefix(line, "pid "); ok {
			h.pid = v
		} else if v, ok := strings.CutPrefix(line, "filters "); ok {
			h.filters = v
		} else if line == "attached" {
			return h
		} else {
			t.Logf("helper: %s", line)
		}
	}
	t.Fatal("the helper process never attached")
	return nil
}

func (h *helperProcess) kill(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	h.cmd.Wait()
}

// TestHelperProcessCounts is the process that the SIGKILL tests kill: it
// counts both directions of an interface and waits; run on its own it has
// nothing to do.
func TestHelperProcessCounts(t *testing.T) {
	iface := os.Getenv("XDP_HELPER_IFACE")
	if iface == "" {
		return
	}
	mode, err := bpf.ParseMode(os.Getenv("XDP_HELPER_MODE"))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	d, err := bpf.Load(bpf.Options{Capacity: 1, TCLegacy: os.Getenv("XDP_HELPER_LEGACY") == "1"})
	if err != nil {
		fmt.Println("load failed:", err)
		os.Exit(1)
	}
	ifc, err := d.Open(iface)
	if err == nil {
		_, err = ifc.Attach(bpf.Receive, mode)
	}
	if err == nil {
		_, err = ifc.Attach(bpf.Transmit, mode)
	}
	if err != nil {
		fmt.Println("attach failed:", err)
		os.Exit(1)
	}
	fmt.Println("pid", os.Getpid())
	if name := d.ClsactFilterName(); name != "" {
		fmt.Println("filters", name)
	}
	fmt.Println("attached")
	time.Sleep(time.Minute) // killed long before
	os.Exit(1)
}

// TestSegmentationOffloadsDoNotChangeCounts streams the same TCP transfer
// across a counted veth with TSO and GSO on, then off, each way.
//
// Each time, both directions count exactly the segments that each end's
// TCP says it sent (tcp_info), and the data direction the bytes they
// carried, headers once per segment: at TC a GSO packet counts as the
// segments the wire carries.
//
// And the two transfers count the same within 1 %, once what TCP chose to
// send differently is left out: retransmissions, and segments it cut short
// (a writer that waits for buffer space makes it push what it holds, at
// moments that differ from run to run, more often with offloads off).
func TestSegmentationOffloadsDoNotChangeCounts(t *testing.T) {
	const size = 32 << 20
	for _, out := range []bool{true, false} {
		data, acks, name := bpf.Receive, bpf.Transmit, "into the host"
		if out {
			data, acks, name = bpf.Transmit, bpf.Receive, "out of the host"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newDatapath(t, bpf.Options{})
			p := xdptest.NewPair(t)
			ifc := open(t, d, p.Host)
			attachBoth(t, bpf.ModeAuto, ifc)
			tcp := bpf.Class{Network: bpf.IPv4, Transport: bpf.TCP}
			stream := func(offloads string) bpf.Counter {
				before := counts(t, d, ifc)
				r := p.Stream(t, size, out)
				after := counts(t, d, ifc)
				count := func(dir bpf.Direction) bpf.Counter {
					a, b := after.Dir[dir][tcp.Index()], before.Dir[dir][tcp.Index()]
					return bpf.Counter{Packets: a.Packets - b.Packets, Bytes: a.Bytes - b.Bytes}
				}
				for _, e := range []struct {
					dir  bpf.Direction
					sent xdptest.TCPSent
				}{{data, r.Sender}, {acks, r.Receiver}} {
					got := count(e.dir)
					t.Logf("offloads %s, %s: counted %d packets, %d bytes; TCP sent %d segments (%d with data), %d payload bytes, %d segments again",
						offloads, e.dir, got.Packets, got.Bytes, e.sent.Segments, e.sent.DataSegments, e.sent.PayloadBytes, e.sent.Retransmitted)
					if got.Packets != e.sent.Segments {
						t.Errorf("offloads %s, %s: counted %d packets, TCP sent %d segments", offloads, e.dir, got.Packets, e.sent.Segments)
					}
				}
				// The SYN's options are all the data direction may carry
				// beyond the segments' headers: 8 or 12 bytes.
				c := count(data)
				want := r.Sender.PayloadBytes + r.Sender.Segments*r.Sender.HeaderBytes
				if c.Bytes < want || c.Bytes > want+16 {
					t.Errorf("offloads %s, %s: counted %d bytes, want %d payload and %d headers of %d bytes, plus the SYN's options",
						offloads, data, c.Bytes, r.Sender.PayloadBytes, r.Sender.Segments, r.Sender.HeaderBytes)
				}
				return withoutResent(c, r.Sender, r.Sender.HeaderBytes)
			}
			on := stream("on")
			p.SetSegmentation(t, false, false)
			p.SetSegmentation(t, true, false)
			off := stream("off")
			offloadsAgree(t, "", on, off, size)
		})
	}
}

// TestGenericXDPCountsGSOPacketsOnce holds the documented limit of forced
// generic XDP: it runs before the stack segments anything, so a GSO packet
// counts once, with its bytes, headers once. If a kernel starts handing
// generic XDP segments, this fails and the documentation must change.
func TestGenericXDPCountsGSOPacketsOnce(t *testing.T) {
	t.Parallel()
	d := newDatapath(t, bpf.Options{})
	p := xdptest.NewPair(t)
	ifc := open(t, d, p.Host)
	attach(t, ifc, bpf.Receive, bpf.ModeGeneric)
	r := p.Stream(t, 32<<20, false)
	got := counts(t, d, ifc).Dir[bpf.Receive][bpf.Class{Network: bpf.IPv4, Transport: bpf.TCP}.Index()]
	t.Logf("generic XDP counted %d packets, %d bytes; TCP sent %d segments, %d payload bytes",
		got.Packets, got.Bytes, r.Sender.Segments, r.Sender.PayloadBytes)
	if got.Packets*2 > r.Sender.Segments {
		t.Errorf("generic XDP counted %d packets of %d segments: it sees segments now", got.Packets, r.Sender.Segments)
	}
	if got.Bytes < r.Sender.PayloadBytes {
		t.Errorf("generic XDP counted %d bytes, fewer than the %d of the payload", got.Bytes, r.Sender.PayloadBytes)
	}
}

// TestVXLANUnderlayCountsEveryHeader streams the same TCP transfer across
// a VXLAN overlay whose underlay is a counted veth, with segmentation
// offloads on, then off, each way; the VXLAN device on the host end of the
// veth is counted too.
//
// Each time, in each direction, the underlay counts exactly what the
// overlay counts, in VXLAN: as many packets, each VXLAN bytes longer.
// Offloads on, the underlay sees a GSO packet as one, whose every segment
// repeats the outer headers, VXLAN's, and the inner Ethernet, IP and TCP
// headers: a count of the outer headers alone falls 74 bytes a segment
// short.
//
// And the two transfers count the same bytes on the underlay within 1 %,
// once what TCP chose to send differently is left out, as in
// TestSegmentationOffloadsDoNotChangeCounts.
func TestVXLANUnderlayCountsEveryHeader(t *testing.T) {
	const size = 32 << 20
	for _, out := range []bool{true, false} {
		data, name := bpf.Receive, "into the host"
		if out {
			data, name = bpf.Transmit, "out of the host"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := newDatapath(t, bpf.Options{})
			p := xdptest.NewPair(t)
			o := xdptest.NewOverlay(t, p)
			under, over := open(t, d, p.Host), open(t, d, o.Host)
			attachBoth(t, bpf.ModeAuto, under, over)
			udp := bpf.Class{Network: bpf.IPv4, Transport: bpf.UDP}
			stream := func(offloads string) bpf.Counter {
				bu, bo := counts(t, d, under), counts(t, d, over)
				r := o.Stream(t, size, out)
				var got, want [bpf.NumDirections]bpf.Counter
				// A frame the underlay received reaches the overlay a
				// moment later.
				for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					au, ao := counts(t, d, under), counts(t, d, over)
					for dir := range au.Dir {
						a, b := au.Dir[dir][udp.Index()], bu.Dir[dir][udp.Index()]
						got[dir] = bpf.Counter{Packets: a.Packets - b.Packets, Bytes: a.Bytes - b.Bytes}
						want[dir] = bpf.Counter{}
						for i := range ao.Dir[dir] {
							a, b := ao.Dir[dir][i], bo.Dir[dir][i]
							want[dir].Packets += a.Packets - b.Packets
							want[dir].Bytes += a.Bytes - b.Bytes + (a.Packets-b.Packets)*xdptest.VXLAN
						}
					}
					if got == want || time.Now().After(deadline) {
						break
					}
				}
				for dir := range got {
					t.Logf("offloads %s, %s: the underlay counted %d packets, %d bytes of VXLAN; the overlay %d packets, so %d bytes with VXLAN's",
						offloads, bpf.Direction(dir), got[dir].Packets, got[dir].Bytes, want[dir].Packets, want[dir].Bytes)
					if got[dir] != want[dir] {
						t.Errorf("offloads %s, %s: the underlay counted %d packets, %d bytes of VXLAN; want %d, %d (%+d bytes)",
							offloads, bpf.Direction(dir), got[dir].Packets, got[dir].Bytes, want[dir].Packets, want[dir].Bytes,
							int64(got[dir].Bytes)-int64(want[dir].Bytes))
					}
				}
				c := got[data]
				hdr := r.Sender.HeaderBytes + xdptest.VXLAN
				return withoutResent(c, r.Sender, hdr)
			}
			on := stream("on")
			o.SetSegmentation(t, false)
			off := stream("off")
			offloadsAgree(t, " on the underlay", on, off, size)
		})
	}
}

// withoutResent is what the data direction counted, c, less what TCP sent
// differently from one transfer to the next: retransmissions, and segments
// it cut short when the writer waited, each with hdr bytes of headers.
func withoutResent(c bpf.Counter, sent xdptest.TCPSent, hdr uint64) bpf.Counter {
	payload := sent.PayloadBytes - sent.RetransBytes
	cutShort := sent.DataSegments - sent.Retransmitted - (payload+sent.MSS-1)/sent.MSS
	c.Packets -= sent.Retransmitted + cutShort
	c.Bytes -= sent.RetransBytes + (sent.Retransmitted+cutShort)*hdr
	return c
}

// offloadsAgree checks that a transfer of size bytes counted (where) the
// same with offloads on as off, within 1 %, and off as at least a packet
// per 1500 bytes.
func offloadsAgree(t *testing.T, where string, on, off bpf.Counter, size int) {
	t.Helper()
	if least := uint64(size / 1500); off.Packets < least {
		t.Errorf("offloads off: %d packets for %d bytes, want at least %d", off.Packets, size, least)
	}
	within := func(what string, a, b uint64) {
		if r := float64(a) / float64(b); r < 0.99 || r > 1.01 {
			t.Errorf("%s%s with offloads on is %.4f of the count with them off (%d vs %d), want within 1 %%", what, where, r, a, b)
		}
	}
	within("packets", on.Packets, off.Packets)
	within("bytes", on.Bytes, off.Bytes)
	t.Logf("the same transfer%s, offloads on: %d packets, %d bytes; off: %d packets, %d bytes", where, on.Packets, on.Bytes, off.Packets, off.Bytes)
}
