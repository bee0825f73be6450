//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"

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
	io.Closer
}

// bind resolves iface and refuses beside a foreign program before anything
// is loaded; then it calls load and attaches the program it loaded. What
// load returns is closed if attaching fails, and otherwise by Close.
func bind[L loaded](iface string, mode Mode, load func() (L, error)) (binding, L, error) {
	var none L
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return binding{}, none, interfaceNotFound(iface, err)
	}
	if err := checkSlotFree(ifc); err != nil {
		return binding{}, none, err
	}
	l, err := load()
	if err != nil {
		return binding{}, none, err
	}
	lk, got, err := attachLink(l.Program(), ifc, mode)
	if err != nil {
		return binding{}, none, errors.Join(err, l.Close())
	}
	return binding{iface: iface, ifindex: ifc.Index, mode: got, link: lk, loaded: l}, l, nil
}

func attachLink(prog *ebpf.Program, ifc *net.Interface, mode Mode) (link.Link, Mode, error) {
	try := func(m Mode) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{Program: prog, Interface: ifc.Index, Flags: m.flags()})
	}
	if mode == ModeAuto {
		l, err := try(ModeNative)
		if err == nil {
			return l, ModeNative, nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EINVAL) {
			return nil, ModeAuto, attachError(ifc, ModeNative, err)
		}
		mode = ModeGeneric
	}
	l, err := try(mode)
	if err != nil {
		return nil, mode, attachError(ifc, mode, err)
	}
	return l, mode, nil
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
// when the interface is deleted or moved to another network namespace, and
// when someone detaches the link from outside (bpftool link detach); the
// counters then keep their last values. One syscall, no netlink dump.
func (b *binding) Attached() (bool, error) {
	if b.link == nil {
		return false, nil
	}
	info, err := b.link.Info()
	if err != nil {
		return false, fmt.Errorf("querying the XDP link of %q: %w", b.iface, err)
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
		return fmt.Errorf("detaching XDP from %q: %w", b.iface, err)
	}
	return nil
}

// ForeignProgramError is returned when an interface already runs an XDP
// program that is not this attachment's. That program is left untouched.
type ForeignProgramError struct {
	Interface string
	ProgramID uint32
}

func (e *ForeignProgramError) Error() string {
	return fmt.Sprintf("interface %q already has XDP program id %d attached: otelcol-xdp never replaces "+
		"another program; detach it (bpftool net detach xdp dev %s) or remove %q from this receiver",
		e.Interface, e.ProgramID, e.Interface, e.Interface)
}

// checkSlotFree refuses early, before anything is loaded, when the
// interface already has an XDP program. The kernel refuses too (a link
// cannot replace a program), so a race between this check and the attach
// still never replaces the other program.
func checkSlotFree(ifc *net.Interface) error {
	id, err := attachedProgramID(ifc.Index)
	if err != nil {
		return permissionError(fmt.Sprintf("querying XDP state of %q", ifc.Name), err)
	}
	if id != 0 {
		return &ForeignProgramError{Interface: ifc.Name, ProgramID: id}
	}
	return nil
}

// attachedProgramID returns the id of the XDP program attached to the
// interface, in any mode, or 0 when there is none.
func attachedProgramID(ifindex int) (uint32, error) {
	l, err := netlink.LinkByIndex(ifindex)
	if err != nil {
		return 0, err
	}
	if x := l.Attrs().Xdp; x != nil && x.Attached {
		return x.ProgId, nil
	}
	return 0, nil
}

func attachError(ifc *net.Interface, mode Mode, err error) error {
	switch {
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		if id, qerr := attachedProgramID(ifc.Index); qerr == nil && id != 0 {
			return &ForeignProgramError{Interface: ifc.Name, ProgramID: id}
		}
	case errors.Is(err, ebpf.ErrNotSupported):
		return fmt.Errorf("attaching XDP to %q: %w: this kernel cannot attach XDP through a bpf_link; "+
			"Linux 5.9 or later is needed", ifc.Name, err)
	case mode == ModeNative && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)):
		return fmt.Errorf("attaching XDP to %q in native mode: %w: the driver does not support native XDP; "+
			"set attach_mode to generic or auto", ifc.Name, err)
	}
	return permissionError(fmt.Sprintf("attaching XDP to %q in %s mode", ifc.Name, mode), err)
}

func interfaceNotFound(iface string, err error) error {
	names := []string{}
	if ifcs, lerr := net.Interfaces(); lerr == nil {
		for _, i := range ifcs {
			names = append(names, i.Name)
		}
	}
	sort.Strings(names)
	return fmt.Errorf("interface %q not found (%w); interfaces on this host: %s", iface, err, strings.Join(names, ", "))
}
