//go:build linux

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// attachXDP attaches xdp_count (xdp_count_l3 on a device without a link
// layer) in mode (native or generic) through a bpf_link, which dies with
// the process. It never replaces a program that is attached already: it
// refuses with a *ForeignProgramError instead.
func (i *Interface) attachXDP(mode Mode, reason string) (*hook, error) {
	if err := checkSlotFree(i.link); err != nil {
		return nil, err
	}
	prog := i.program(true, Receive)
	l, mode, err := attachXDPLink(prog, i.link, mode, i.d.frags)
	if err != nil {
		return nil, err
	}
	h := linkHook(l, Placement{Hook: HookXDPNative, Reason: reason, ProgramID: i.d.ids[prog]})
	if mode == ModeGeneric {
		h.Hook = HookXDPGeneric
	}
	return h, nil
}

// attachXDPLink attaches prog in mode, native or generic; in ModeAuto,
// natively, and generically where the driver has no native XDP or refuses
// it. It returns the mode it got.
func attachXDPLink(prog *ebpf.Program, ifc netlink.Link, mode Mode, frags bool) (link.Link, Mode, error) {
	try := func(m Mode) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Attrs().Index, Flags: xdpFlags(m)})
	}
	if mode == ModeNative || mode == ModeAuto {
		// What the driver would refuse, refused before it reconfigures.
		if err := preflightNative(ifc, frags); err != nil {
			if mode == ModeNative {
				return nil, mode, err
			}
			mode = ModeGeneric
		}
	}
	if mode == ModeAuto {
		l, err := try(ModeNative)
		if err == nil {
			return l, ModeNative, nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !driverRefused(err) {
			return nil, ModeAuto, xdpError(ifc, ModeNative, frags, err)
		}
		mode = ModeGeneric
	}
	l, err := try(mode)
	if err != nil {
		return nil, mode, xdpError(ifc, mode, frags, err)
	}
	return l, mode, nil
}

// preflightNative refuses native XDP that the interface's driver would
// refuse (Driver.checkNative). A driver that cannot be described is left
// to the kernel to judge.
func preflightNative(ifc netlink.Link, frags bool) error {
	if d, err := DescribeDriver(ifc.Attrs().Name); err == nil {
		return d.checkNative(ifc.Attrs().Name, frags)
	}
	return nil
}

func xdpFlags(m Mode) link.XDPAttachFlags {
	if m == ModeNative {
		return link.XDPDriverMode
	}
	return link.XDPGenericMode
}

func programID(p *ebpf.Program) uint32 {
	info, err := p.Info()
	if err != nil {
		return 0
	}
	id, _ := info.ID()
	return uint32(id)
}

// checkSlotFree refuses early, when the interface already has an XDP
// program. The kernel refuses too (a link cannot replace a program), so a
// race between this check and the attach still never replaces the other
// program.
func checkSlotFree(ifc netlink.Link) error {
	if x := ifc.Attrs().Xdp; x != nil && x.Attached {
		return &ForeignProgramError{Interface: ifc.Attrs().Name, ProgramID: x.ProgId}
	}
	return nil
}

// attachedProgram tells whether an XDP program is attached to the
// interface now, in any mode, and which: with programs in several modes
// (XDP_ATTACHED_MULTI) the kernel reports no single id, and the id is 0.
func attachedProgram(ifindex int) (attached bool, id uint32, err error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return false, 0, err
	}
	if x := l.Attrs().Xdp; x != nil && x.Attached {
		return true, x.ProgId, nil
	}
	return false, 0, nil
}

// xdpError tells apart the causes that share an errno: EBUSY or EEXIST
// when another program took the slot meanwhile, EINVAL from a kernel before
// 5.9 that has bpf_link but no XDP link, EINVAL (and others) from a driver
// that refuses native XDP for a reason of its own, EOPNOTSUPP from a driver
// without native XDP.
func xdpError(ifc netlink.Link, mode Mode, frags bool, err error) error {
	name := ifc.Attrs().Name
	switch {
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		if attached, id, qerr := attachedProgram(ifc.Attrs().Index); qerr == nil && attached {
			return &ForeignProgramError{Interface: name, ProgramID: id}
		}
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, unix.EINVAL) && !haveXDPLink():
		return fmt.Errorf("attach XDP to %q: %w", name, ErrNoXDPLink)
	case mode == ModeNative && errors.Is(err, unix.EOPNOTSUPP):
		return fmt.Errorf("attach XDP to %q in native mode: %w", name, ErrNoNativeXDP)
	case mode == ModeNative && driverRefused(err):
		return &DriverRefusedError{Interface: name, MTU: ifc.Attrs().MTU, Frags: frags, Err: err}
	}
	return fmt.Errorf("attach XDP to %q in %s mode: %w", name, mode, err)
}

// driverRefused tells the errnos with which drivers refuse native XDP for
// reasons of their own: EINVAL (virtio_net, mlx5, ...: MTU, LRO), and
// veth's ERANGE (peer MTU too large), ENOSPC (too few queues) and
// ENOTCONN (no peer).
func driverRefused(err error) bool {
	return errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ERANGE) || errors.Is(err, unix.ENOSPC) ||
		errors.Is(err, unix.ENOTCONN)
}

// haveXDPLink tells whether the kernel attaches XDP through bpf_link, new
// in Linux 5.9. Kernels 5.7 and 5.8 have bpf_link but answer EINVAL for XDP;
// the kernel's release is the only way to tell without attaching.
func haveXDPLink() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return true // assume so: the errno then speaks for itself
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return true
	}
	return major > 5 || major == 5 && minor >= 9
}
