//go:build linux

package bpf_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// autoReason is why auto mode counts at TC, everywhere.
const autoReason = "auto: TC changes nothing in the driver"

// TestAutoPicksTheHook: auto mode counts receive at TC on every
// interface, and says why; native mode refuses where the driver has none.
func TestAutoPicksTheHook(t *testing.T) {
	d := newDatapath(t, bpf.Options{})
	br := xdptest.NewGenericOnly(t)
	a := attach(t, open(t, d, br), bpf.Receive, bpf.ModeAuto)
	if a.Hook != bpf.HookTCX || a.Reason != autoReason {
		t.Errorf("auto on a bridge: %v because %q; want tcx because %q", a.Hook, a.Reason, autoReason)
	}
	lo := open(t, d, "lo")
	if a := attach(t, lo, bpf.Receive, bpf.ModeAuto); a.Hook != bpf.HookTCX || a.Reason != autoReason {
		t.Errorf("auto on lo: %v because %q", a.Hook, a.Reason)
	}
	if err := lo.Release(); err != nil {
		t.Fatal(err)
	}
	// veth's driver runs XDP natively: auto leaves it alone all the same.
	p := xdptest.NewPair(t)
	if a := attach(t, open(t, d, p.Host), bpf.Receive, bpf.ModeAuto); a.Hook != bpf.HookTCX || a.Reason != autoReason {
		t.Errorf("auto on a veth: %v because %q", a.Hook, a.Reason)
	}
	xdptest.RequireNoXDP(t, p.Host)

	br2 := xdptest.NewGenericOnly(t)
	_, err := open(t, d, br2).Attach(bpf.Receive, bpf.ModeNative)
	if !errors.Is(err, bpf.ErrNoNativeXDP) || !strings.Contains(err.Error(), br2) {
		t.Errorf("native mode on a bridge: got %v, want ErrNoNativeXDP naming %q", err, br2)
	}
	xdptest.RequireNoXDP(t, br2)
}

// TestNativeRefusedBeforeTheDriver: where the driver would refuse native
// XDP (here veth, made to refuse an MTU above 1400 as ena refuses one above
// 3498), the attach refuses first and attaches nothing; a user's program in
// auto mode goes to generic XDP instead, as it does when the driver
// refuses.
func TestNativeRefusedBeforeTheDriver(t *testing.T) {
	bpf.WithXDPDriver(t, "veth", 1400, false)
	d := newDatapath(t, bpf.Options{})
	p := xdptest.NewPair(t)
	refused := open(t, d, p.Host)
	_, err := refused.Attach(bpf.Receive, bpf.ModeNative)
	var dr *bpf.DriverRefusedError
	if !errors.Is(err, bpf.ErrMTUAboveXDPLimit) || !errors.As(err, &dr) || dr.Limit != 1400 || dr.MTU != 1500 || dr.Driver != "veth" {
		t.Fatalf("native on a veth of MTU 1500: got %v, want a DriverRefusedError with limit 1400", err)
	}
	xdptest.RequireNoXDP(t, p.Host)
	if err := refused.Release(); err != nil {
		t.Fatal(err)
	}
	if a := attach(t, open(t, d, p.Host), bpf.Receive, bpf.ModeGeneric); a.Hook != bpf.HookXDPGeneric {
		t.Errorf("generic mode: %v, want xdp-generic: no driver refuses it", a.Hook)
	}

	q := xdptest.NewPair(t)
	o, err := bpf.OpenCustom(bpf.CustomSpec{Object: portCountObject(t), Function: "xdp_count", Map: "packet_count"})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := o.Attach(q.Host, bpf.ModeAuto)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ca.Close() })
	if ca.Mode() != bpf.ModeGeneric {
		t.Errorf("a user's program in auto mode, where the driver refuses native: %v, want generic", ca.Mode())
	}
}

// TestDriverRefusesNative has veth refuse native XDP for a program without
// frags support on a 9000-byte MTU (ERANGE, not EOPNOTSUPP): the error says
// the driver refused, and why it likely did. The frags-aware program
// attaches natively.
func TestDriverRefusesNative(t *testing.T) {
	p := xdptest.NewPair(t)
	p.SetMTU(t, 9000)
	noFrags := newDatapath(t, bpf.WithoutFrags(bpf.Options{}))
	_, err := open(t, noFrags, p.Host).Attach(bpf.Receive, bpf.ModeNative)
	var dr *bpf.DriverRefusedError
	if !errors.As(err, &dr) || dr.Interface != p.Host || dr.MTU != 9000 || !dr.MTUTooLarge() {
		t.Fatalf("got %v, want a DriverRefusedError for %q with MTU 9000, too large", err, p.Host)
	}
	if errors.Is(err, bpf.ErrNoNativeXDP) {
		t.Errorf("%v: the driver has native XDP, it refused this program", err)
	}
	xdptest.RequireNoXDP(t, p.Host)

	d := newDatapath(t, bpf.Options{})
	if a := attach(t, open(t, d, p.Host), bpf.Receive, bpf.ModeNative); a.Hook != bpf.HookXDPNative {
		t.Errorf("the frags-aware program on a 9000-byte MTU: %v", a.Hook)
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

// TestBesideForeignProgram puts another XDP program on the interface, by
// bpf_link and by netlink: forced XDP modes refuse with its id and leave
// it alone; auto mode counts at TC beside it, exactly.
func TestBesideForeignProgram(t *testing.T) {
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
	for name, attachForeign := range attachers {
		t.Run(name, func(t *testing.T) {
			d := newDatapath(t, bpf.Options{})
			p := xdptest.NewPair(t)
			attachForeign(t, p, passProgram(t))
			foreign := xdptest.XDPProgramID(t, p.Host)

			for _, mode := range []bpf.Mode{bpf.ModeNative, bpf.ModeGeneric} {
				ifc := open(t, d, p.Host)
				_, err := ifc.Attach(bpf.Receive, mode)
				var fe *bpf.ForeignProgramError
				if !errors.As(err, &fe) || fe.ProgramID != foreign || fe.Interface != p.Host {
					t.Errorf("%v mode: got %v, want a ForeignProgramError naming %q and id %d", mode, err, p.Host, foreign)
				}
				if got := xdptest.XDPProgramID(t, p.Host); got != foreign {
					t.Fatalf("%v mode: the foreign program %d was disturbed: now %d", mode, foreign, got)
				}
				if err := ifc.Release(); err != nil {
					t.Fatal(err)
				}
			}

			ifc := open(t, d, p.Host)
			a := attach(t, ifc, bpf.Receive, bpf.ModeAuto)
			if a.Hook != bpf.HookTCX || a.Reason != autoReason {
				t.Errorf("auto beside program %d: %v because %q; want tcx because %q", foreign, a.Hook, a.Reason, autoReason)
			}
			var want bpf.Counts
			for _, f := range xdptest.Frames() {
				p.Inject(t, f.Data)
				add(&want, bpf.Receive, f)
			}
			waitFor(t, d, ifc, want)
			if got := xdptest.XDPProgramID(t, p.Host); got != foreign {
				t.Errorf("the foreign program %d was disturbed: now %d", foreign, got)
			}
		})
	}
}

// xdpAttachedMulti is XDP_ATTACHED_MULTI of linux/if_link.h.
const xdpAttachedMulti = 4

// TestSlotTakenInSeveralModes: with programs in more than one mode
// (XDP_ATTACHED_MULTI, such as driver and offload) the kernel reports no
// single program id. The slot is taken all the same.
func TestSlotTakenInSeveralModes(t *testing.T) {
	multi := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "eth9", Index: 9,
		Xdp: &netlink.LinkXdp{Attached: true, AttachMode: xdpAttachedMulti}}}
	err := bpf.CheckSlotFree(multi)
	var fe *bpf.ForeignProgramError
	if !errors.As(err, &fe) || fe.Interface != "eth9" || fe.ProgramID != 0 {
		t.Fatalf("got %v, want a ForeignProgramError for eth9 with no single id", err)
	}
	if want := `interface "eth9" already has XDP programs attached in several modes`; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
	free := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "eth8", Index: 8, Xdp: &netlink.LinkXdp{}}}
	if err := bpf.CheckSlotFree(free); err != nil {
		t.Errorf("a free slot: %v", err)
	}
}

// TestXDPErrorTellsCausesApart gives xdpError each errno that an XDP
// attach fails with: causes that share an errno come out as the typed
// error a user can act on, and the errno stays reachable with errors.Is.
// Drivers refuse with EINVAL only on kernels that attach XDP through a
// bpf_link (5.9+), which every kernel these tests run on does.
func TestXDPErrorTellsCausesApart(t *testing.T) {
	// No interface has this index: the query for a program that took the
	// slot meanwhile finds none.
	absent := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "eth9", Index: 1 << 30, MTU: 9000}}
	type check func(t *testing.T, err error)
	is := func(target error) check {
		return func(t *testing.T, err error) {
			if !errors.Is(err, target) {
				t.Errorf("%v: not %v", err, target)
			}
		}
	}
	isNot := func(target error) check {
		return func(t *testing.T, err error) {
			if errors.Is(err, target) {
				t.Errorf("%v: is %v, and should not be", err, target)
			}
		}
	}
	refused := func(frags, mtuTooLarge bool) check {
		return func(t *testing.T, err error) {
			var dr *bpf.DriverRefusedError
			if !errors.As(err, &dr) {
				t.Fatalf("%v: not a DriverRefusedError", err)
			}
			if dr.Interface != "eth9" || dr.MTU != 9000 || dr.Frags != frags || dr.MTUTooLarge() != mtuTooLarge {
				t.Errorf("%+v: want eth9, MTU 9000, frags %v, MTU too large %v", dr, frags, mtuTooLarge)
			}
		}
	}
	notRefused := func(t *testing.T, err error) {
		var dr *bpf.DriverRefusedError
		if errors.As(err, &dr) {
			t.Errorf("%v: a DriverRefusedError, though the mode was not native", err)
		}
	}
	for _, tc := range []struct {
		name  string
		mode  bpf.Mode
		frags bool
		err   error
		want  string
		check []check
	}{
		{"no native XDP", bpf.ModeNative, true, unix.EOPNOTSUPP,
			`attach XDP to "eth9" in native mode: driver has no native XDP support`, []check{is(bpf.ErrNoNativeXDP)}},
		{"not supported in generic mode", bpf.ModeGeneric, true, unix.EOPNOTSUPP,
			`attach XDP to "eth9" in generic mode: operation not supported`, []check{is(unix.EOPNOTSUPP), isNot(bpf.ErrNoNativeXDP)}},
		{"driver refuses without frags", bpf.ModeNative, false, unix.EINVAL,
			`driver of "eth9" refused native XDP: invalid argument`, []check{refused(false, true), is(unix.EINVAL)}},
		{"driver refuses with frags", bpf.ModeNative, true, unix.ERANGE,
			`driver of "eth9" refused native XDP: numerical result out of range`, []check{refused(true, false), is(unix.ERANGE)}},
		{"veth without enough queues", bpf.ModeNative, true, unix.ENOSPC,
			`driver of "eth9" refused native XDP: no space left on device`, []check{refused(true, false)}},
		{"veth without a peer", bpf.ModeNative, true, unix.ENOTCONN,
			`driver of "eth9" refused native XDP: transport endpoint is not connected`, []check{refused(true, false)}},
		{"invalid in generic mode", bpf.ModeGeneric, true, unix.EINVAL,
			`attach XDP to "eth9" in generic mode: invalid argument`, []check{notRefused, is(unix.EINVAL)}},
		{"no XDP link", bpf.ModeNative, true, fmt.Errorf("create link: %w", ebpf.ErrNotSupported),
			`attach XDP to "eth9": kernel cannot attach XDP through a bpf_link (Linux 5.9+)`, []check{is(bpf.ErrNoXDPLink)}},
		{"busy, and no program found", bpf.ModeGeneric, true, unix.EBUSY,
			`attach XDP to "eth9" in generic mode: device or resource busy`, []check{is(unix.EBUSY)}},
		{"not permitted", bpf.ModeNative, true, unix.EPERM,
			`attach XDP to "eth9" in native mode: operation not permitted`, []check{is(unix.EPERM), notRefused}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := bpf.XDPError(absent, tc.mode, tc.frags, tc.err)
			if err == nil || err.Error() != tc.want {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			for _, c := range tc.check {
				c(t, err)
			}
		})
	}
}

// TestXDPErrorNamesTheProgramThatTookTheSlot: an attach that fails with
// EBUSY or EEXIST because another program took the slot since the check
// comes out as a ForeignProgramError naming that program.
func TestXDPErrorNamesTheProgramThatTookTheSlot(t *testing.T) {
	p := xdptest.NewPair(t)
	foreign, _ := xdptest.AttachForeignXDP(t, p.Host)
	l, err := netlink.LinkByName(p.Host)
	if err != nil {
		t.Fatal(err)
	}
	for _, errno := range []error{unix.EBUSY, unix.EEXIST} {
		err := bpf.XDPError(l, bpf.ModeNative, true, errno)
		var fe *bpf.ForeignProgramError
		if !errors.As(err, &fe) || fe.Interface != p.Host || fe.ProgramID != foreign {
			t.Errorf("%v: got %v, want a ForeignProgramError for %q naming program %d", errno, err, p.Host, foreign)
		}
	}
}
