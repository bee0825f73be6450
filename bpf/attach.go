//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"io"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Attachment is the counter attached to one interface through a bpf_link.
// The link belongs to this process: if the process dies, even by SIGKILL,
// the kernel detaches the program and frees everything with it.
type Attachment struct {
	binding
	counter *Instance
}

// Attach loads a fresh counter and attaches it to the interface named iface.
// In ModeAuto it tries native XDP first and falls back to generic XDP when the
// driver has no native support; Mode reports which one it got.
//
// Attach never replaces or disturbs an XDP program that is already attached:
// it fails with a *ForeignProgramError instead.
func Attach(iface string, mode Mode) (*Attachment, error) {
	b, c, err := bind(iface, mode, Load)
	if err != nil {
		return nil, err
	}
	return &Attachment{binding: b, counter: c}, nil
}

// Read fills t with the interface's counters, summed over CPUs. The counters
// are monotonic from the moment of attachment: Read never clears them, so no
// packet counted between two reads is lost. Callers take deltas.
func (a *Attachment) Read(t *Totals) error {
	if err := a.counter.Read(t); err != nil {
		return fmt.Errorf("reading XDP counters of %q: %w", a.iface, err)
	}
	return nil
}

// binding is a program attached to one interface through a bpf_link, with
// what was loaded for it.
type binding struct {
	iface   string
	ifindex int
	mode    Mode
	link    link.Link
	loaded  io.Closer
}

// loaded is what bind attaches: a loaded program with the maps it owns.
type loaded interface {
	Program() *ebpf.Program
	// Frags tells whether the program was loaded frags-aware, able to take
	// multi-buffer frames.
	Frags() bool
	io.Closer
}

// bind resolves iface and refuses beside a foreign program before anything
// is loaded; then it calls load and attaches the program it loaded. What
// load returns is closed if attaching fails, and otherwise by Close.
func bind[L loaded](iface string, mode Mode, load func() (L, error)) (binding, L, error) {
	var none L
	ifc, err := lookup(iface)
	if err != nil {
		return binding{}, none, err
	}
	if err := checkSlotFree(ifc); err != nil {
		return binding{}, none, err
	}
	l, err := load()
	if err != nil {
		return binding{}, none, err
	}
	lk, got, err := attachLink(l, ifc, mode)
	if err != nil {
		return binding{}, none, errors.Join(err, l.Close())
	}
	return binding{iface: iface, ifindex: ifc.Attrs().Index, mode: got, link: lk, loaded: l}, l, nil
}

// lookup finds the interface by name or alternative name with one
// RTM_GETLINK: unlike net.InterfaceByName, which lists every link, its
// cost does not grow with the number of interfaces.
func lookup(iface string) (netlink.Link, error) {
	l, err := netlink.LinkByName(iface)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, &InterfaceNotFoundError{Name: iface}
		}
		return nil, fmt.Errorf("look up interface %q: %w", iface, err)
	}
	return l, nil
}

func attachLink(l loaded, ifc netlink.Link, mode Mode) (link.Link, Mode, error) {
	try := func(m Mode) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{Program: l.Program(), Interface: ifc.Attrs().Index, Flags: m.flags()})
	}
	if mode == ModeAuto {
		lk, err := try(ModeNative)
		if err == nil {
			return lk, ModeNative, nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !driverRefused(err) {
			return nil, ModeAuto, attachError(l, ifc, ModeNative, err)
		}
		mode = ModeGeneric
	}
	lk, err := try(mode)
	if err != nil {
		return nil, mode, attachError(l, ifc, mode, err)
	}
	return lk, mode, nil
}

func (m Mode) flags() link.XDPAttachFlags {
	if m == ModeNative {
		return link.XDPDriverMode
	}
	return link.XDPGenericMode
}

// Interface is the name of the interface the program is attached to.
func (b *binding) Interface() string { return b.iface }

// Ifindex is the index the interface had when the program was attached.
func (b *binding) Ifindex() int { return b.ifindex }

// Mode is the mode the program runs in: ModeNative or ModeGeneric.
func (b *binding) Mode() Mode { return b.mode }

// Attached reports whether the program still runs on the interface. It stops
// when the interface is deleted and when someone detaches the link from
// outside (bpftool link detach); the counters then keep their last values.
// An interface moved to another network namespace keeps its program: the
// link follows it, and Attached stays true until the receiver, which sees
// the move as the interface's deletion, closes it. One syscall, no netlink
// dump.
func (b *binding) Attached() (bool, error) {
	if b.link == nil {
		return false, nil
	}
	info, err := b.link.Info()
	if err != nil {
		return false, fmt.Errorf("query XDP link of %q: %w", b.iface, err)
	}
	return info.XDP().Ifindex != 0, nil
}

// Close detaches the program and frees the program, its maps and the link.
// It is safe to call more than once.
func (b *binding) Close() error {
	if b.link == nil {
		return nil
	}
	err := errors.Join(b.link.Close(), b.loaded.Close())
	b.link = nil
	if err != nil {
		return fmt.Errorf("detach XDP from %q: %w", b.iface, err)
	}
	return nil
}

// checkSlotFree refuses early, before anything is loaded, when the
// interface already has an XDP program. The kernel refuses too (a link
// cannot replace a program), so a race between this check and the attach
// still never replaces the other program.
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

// attachError tells apart the causes that share an errno: EBUSY or EEXIST
// when another program took the slot meanwhile, EINVAL from a kernel before
// 5.9 that has bpf_link but no XDP link, EINVAL (and others) from a driver
// that refuses native XDP for a reason of its own, EOPNOTSUPP from a driver
// without native XDP.
func attachError(l loaded, ifc netlink.Link, mode Mode, err error) error {
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
		return &DriverRefusedError{Interface: name, MTU: ifc.Attrs().MTU, Frags: l.Frags(), Err: err}
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
