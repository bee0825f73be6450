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

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// waitFor reads a until it counts want, and fails if it never does or if it
// counts more. Frames cross the veth asynchronously, so the first reads may
// be short; a read past want is a counting bug.
func waitFor(t *testing.T, a *bpf.Attachment, want bpf.Totals) {
	t.Helper()
	var got bpf.Totals
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if err := a.Read(&got); err != nil {
			t.Fatal(err)
		}
		if got == want {
			// Anything still in flight would show up now.
			time.Sleep(50 * time.Millisecond)
			break
		}
	}
	if err := a.Read(&got); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i].Packets != want[i].Packets || got[i].Bytes != want[i].Bytes {
			t.Errorf("%s: class %v counted %d packets, %d bytes; want %d, %d",
				a.Interface(), bpf.ClassAt(i), got[i].Packets, got[i].Bytes, want[i].Packets, want[i].Bytes)
		}
	}
}

// waitUntil polls done for up to 5 s: frames cross a veth asynchronously.
func waitUntil(t *testing.T, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !done() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

func injectAll(t *testing.T, p *xdptest.Pair, rounds int, want *bpf.Totals) {
	t.Helper()
	for range rounds {
		for _, f := range xdptest.Frames() {
			p.Inject(t, f.Data)
			c := &want[f.Class.Index()]
			c.Packets++
			c.Bytes += uint64(len(f.Data))
		}
	}
}

func TestAttachCountsInjectedFrames(t *testing.T) {
	for _, mode := range []bpf.Mode{bpf.ModeNative, bpf.ModeGeneric} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			p := xdptest.NewPair(t)
			a, err := bpf.Attach(p.Host, mode)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if a.Mode() != mode {
				t.Errorf("attached in %v mode, want %v", a.Mode(), mode)
			}
			if xdptest.XDPProgramID(t, p.Host) == 0 {
				t.Fatalf("%q shows no XDP program after Attach", p.Host)
			}
			var want bpf.Totals
			injectAll(t, p, 3, &want)
			waitFor(t, a, want)

			if ok, err := a.Attached(); !ok || err != nil {
				t.Errorf("Attached() = %v, %v while attached", ok, err)
			}
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			xdptest.RequireNoXDP(t, p.Host)
			if err := a.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

func TestInterfacesNeverMix(t *testing.T) {
	p1, p2 := xdptest.NewPair(t), xdptest.NewPair(t)
	a1, err := bpf.Attach(p1.Host, bpf.ModeAuto)
	if err != nil {
		t.Fatal(err)
	}
	defer a1.Close()
	a2, err := bpf.Attach(p2.Host, bpf.ModeAuto)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close()

	var want1, want2 bpf.Totals
	injectAll(t, p1, 2, &want1)
	injectAll(t, p2, 1, &want2)
	waitFor(t, a1, want1)
	waitFor(t, a2, want2)
}

// TestAttachedTellsWhenTheInterfaceIsGone deletes the interface under the
// attachment: the counts stay readable, frozen, and Attached says so.
func TestAttachedTellsWhenTheInterfaceIsGone(t *testing.T) {
	p := xdptest.NewPair(t)
	a, err := bpf.Attach(p.Host, bpf.ModeAuto)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var want bpf.Totals
	injectAll(t, p, 1, &want)
	waitFor(t, a, want)

	p.DeleteHost(t)
	if ok, err := a.Attached(); ok || err != nil {
		t.Errorf("Attached() = %v, %v after the interface was deleted; want false, nil", ok, err)
	}
	var got bpf.Totals
	if err := a.Read(&got); err != nil || got != want {
		t.Errorf("Read after deletion: %v, %v; want the last counts %v", got, err, want)
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close after deletion: %v", err)
	}
}

func TestAutoModeFallsBackToGeneric(t *testing.T) {
	xdptest.Privileged(t)
	br := xdptest.NewGenericOnly(t)

	a, err := bpf.Attach(br, bpf.ModeAuto)
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode() != bpf.ModeGeneric {
		t.Errorf("auto mode on a bridge got %v, want generic", a.Mode())
	}
	a.Close()
	xdptest.RequireNoXDP(t, br)

	_, err = bpf.Attach(br, bpf.ModeNative)
	if !errors.Is(err, bpf.ErrNoNativeXDP) || !strings.Contains(err.Error(), br) {
		t.Errorf("native mode on a bridge: got %v, want ErrNoNativeXDP naming %q", err, br)
	}
	xdptest.RequireNoXDP(t, br)
}

// TestDriverRefusesNative has veth refuse native XDP for a program without
// frags support on a 9000-byte MTU (ERANGE, not EOPNOTSUPP): the error says
// the driver refused, and why it likely did; auto mode goes generic, and the
// frags-aware program attaches natively.
func TestDriverRefusesNative(t *testing.T) {
	p := xdptest.NewPair(t)
	p.SetMTU(t, 9000)
	_, err := bpf.AttachWithoutFrags(p.Host, bpf.ModeNative)
	var dr *bpf.DriverRefusedError
	if !errors.As(err, &dr) || dr.Interface != p.Host || dr.MTU != 9000 || !dr.MTUTooLarge() {
		t.Fatalf("got %v, want a DriverRefusedError for %q with MTU 9000, too large", err, p.Host)
	}
	if errors.Is(err, bpf.ErrNoNativeXDP) {
		t.Errorf("%v: the driver has native XDP, it refused this program", err)
	}
	xdptest.RequireNoXDP(t, p.Host)

	a, err := bpf.AttachWithoutFrags(p.Host, bpf.ModeAuto)
	if err != nil {
		t.Fatal(err)
	}
	if a.Mode() != bpf.ModeGeneric {
		t.Errorf("auto mode where the driver refused: %v, want generic", a.Mode())
	}
	a.Close()

	a, err = bpf.Attach(p.Host, bpf.ModeNative)
	if err != nil {
		t.Fatalf("the frags-aware program on a 9000-byte MTU: %v", err)
	}
	a.Close()
	xdptest.RequireNoXDP(t, p.Host)
}

func TestAttachUnknownInterface(t *testing.T) {
	xdptest.Privileged(t)
	_, err := bpf.Attach("nosuch0", bpf.ModeAuto)
	if !errors.Is(err, bpf.ErrInterfaceNotFound) || err.Error() != `interface "nosuch0" not found` {
		t.Errorf("got %v, want ErrInterfaceNotFound naming the interface", err)
	}
}

// passProgram loads a foreign XDP program: someone else's, as far as the
// counter can tell.
func passProgram(t *testing.T) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		License:      "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

func TestRefusesBesideForeignProgram(t *testing.T) {
	attachers := map[string]func(t *testing.T, p *xdptest.Pair, prog *ebpf.Program){
		"bpf_link": func(t *testing.T, p *xdptest.Pair, prog *ebpf.Program) {
			l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: p.HostIndex, Flags: link.XDPGenericMode})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { l.Close() })
		},
		"netlink": func(t *testing.T, p *xdptest.Pair, prog *ebpf.Program) {
			l, err := netlink.LinkByName(p.Host)
			if err != nil {
				t.Fatal(err)
			}
			if err := netlink.LinkSetXdpFdWithFlags(l, prog.FD(), int(link.XDPDriverMode)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { netlink.LinkSetXdpFdWithFlags(l, -1, int(link.XDPDriverMode)) })
		},
	}
	for name, attach := range attachers {
		t.Run(name, func(t *testing.T) {
			p := xdptest.NewPair(t)
			attach(t, p, passProgram(t))
			foreign := xdptest.XDPProgramID(t, p.Host)

			for _, mode := range []bpf.Mode{bpf.ModeAuto, bpf.ModeNative, bpf.ModeGeneric} {
				a, err := bpf.Attach(p.Host, mode)
				if err == nil {
					a.Close()
					t.Fatalf("%v mode: attached beside program %d", mode, foreign)
				}
				var fe *bpf.ForeignProgramError
				if !errors.As(err, &fe) || fe.ProgramID != foreign || fe.Interface != p.Host {
					t.Errorf("%v mode: got %v, want a ForeignProgramError naming %q and id %d", mode, err, p.Host, foreign)
				}
				if !strings.Contains(err.Error(), fmt.Sprintf("id %d", foreign)) {
					t.Errorf("%v mode: error %q does not give the program id", mode, err)
				}
				if got := xdptest.XDPProgramID(t, p.Host); got != foreign {
					t.Fatalf("%v mode: the foreign program %d was disturbed: now %d", mode, foreign, got)
				}
			}
		})
	}
}

// TestSIGKILLLeavesNothingAttached kills a process that holds an attachment
// and checks that the kernel detached the program with the process: the
// bpf_link dies with its last file descriptor.
func TestSIGKILLLeavesNothingAttached(t *testing.T) {
	p := xdptest.NewPair(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessHoldsAttachment$", "-test.count=1")
	cmd.Env = append(os.Environ(), "XDP_HELPER_IFACE="+p.Host)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	lines := bufio.NewScanner(stdout)
	attached := false
	for lines.Scan() {
		if lines.Text() == "attached" {
			attached = true
			break
		}
	}
	if !attached {
		t.Fatal("the helper process never attached")
	}
	if xdptest.XDPProgramID(t, p.Host) == 0 {
		t.Fatal("the helper process says it attached, but the interface has no XDP program")
	}
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); xdptest.XDPProgramID(t, p.Host) != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%q still has XDP program %d 5s after its owner was killed", p.Host, xdptest.XDPProgramID(t, p.Host))
		}
	}
}

// TestHelperProcessHoldsAttachment is the process that
// TestSIGKILLLeavesNothingAttached kills; run on its own it has nothing to do.
func TestHelperProcessHoldsAttachment(t *testing.T) {
	iface := os.Getenv("XDP_HELPER_IFACE")
	if iface == "" {
		return
	}
	if _, err := bpf.Attach(iface, bpf.ModeAuto); err != nil {
		fmt.Println("attach failed:", err)
		os.Exit(1)
	}
	fmt.Println("attached")
	time.Sleep(time.Minute) // killed long before
	os.Exit(1)
}
