package bpf

import (
	"errors"
	"fmt"
)

// The errors of this package are short and typed, in the style of
// cilium/ebpf: they say what failed, and callers test them with errors.Is
// and errors.As. The advice a user can act on is added by the receiver, in
// one place.
var (
	// ErrInterfaceNotFound means no interface has the name (or
	// alternative name), in the caller's network namespace. Errors that
	// wrap it are an *InterfaceNotFoundError.
	ErrInterfaceNotFound = errors.New("interface not found")

	// ErrNoNativeXDP means the interface's driver cannot run XDP programs
	// itself (EOPNOTSUPP in native mode).
	ErrNoNativeXDP = errors.New("driver has no native XDP support")

	// ErrNoXDPLink means the kernel cannot attach XDP through a bpf_link,
	// which Linux 5.9 introduced.
	ErrNoXDPLink = errors.New("kernel cannot attach XDP through a bpf_link (Linux 5.9+)")

	// ErrXDPAtTC means ModeTC was asked of a user's XDP program, which
	// runs at XDP only.
	ErrXDPAtTC = errors.New("XDP programs do not run at TC")
)

// The ways a user's program object can be unfit, which OpenCustom tells
// before loading anything. The errors that wrap them name the object, and
// what it has instead.
var (
	// ErrNotELF means the object is not an ELF file.
	ErrNotELF = errors.New("not an ELF file")

	// ErrInvalidObject means the object is an ELF file that the loader
	// cannot read as a BPF object: another architecture's, or one whose
	// sections or BTF it does not understand. Its error follows.
	ErrInvalidObject = errors.New("invalid BPF object")

	// ErrMapEntryProgram means the program is an XDP program for the
	// entries of a devmap or cpumap (SEC("xdp/devmap"), SEC("xdp/cpumap")),
	// which the kernel runs on frames redirected into the map.
	ErrMapEntryProgram = errors.New("for a devmap or cpumap entry, which the kernel does not attach to an interface")

	// ErrNotXDP means the program is of another type than XDP.
	ErrNotXDP = errors.New("not XDP")

	// ErrNotCounterMap means the map is not one that a user's program
	// counts in: 4-byte keys to 8-byte counters, in an array or hash,
	// per-CPU or not.
	ErrNotCounterMap = errors.New("not an Array, Hash, PerCPUArray or PerCPUHash with 4-byte keys and 8-byte values")
)

// InterfaceNotFoundError names the interface that does not exist.
type InterfaceNotFoundError struct {
	Name string
}

func (e *InterfaceNotFoundError) Error() string { return fmt.Sprintf("interface %q not found", e.Name) }

// Is makes errors.Is(err, ErrInterfaceNotFound) true.
func (e *InterfaceNotFoundError) Is(target error) bool { return target == ErrInterfaceNotFound }

// ForeignProgramError means the interface's XDP slot holds a program that is not
// ours, which is never replaced.
type ForeignProgramError struct {
	Interface string
	// ProgramID is the program's id, or 0 when programs are attached in
	// more than one mode at once (XDP_ATTACHED_MULTI, such as driver and
	// offload), where the kernel reports no single id.
	ProgramID uint32
}

func (e *ForeignProgramError) Error() string {
	if e.ProgramID == 0 {
		return fmt.Sprintf("interface %q already has XDP programs attached in several modes", e.Interface)
	}
	return fmt.Sprintf("interface %q already has XDP program id %d attached", e.Interface, e.ProgramID)
}

// DriverRefusedError means the driver refuses native XDP on the interface for a
// reason of its own: an MTU it cannot take with XDP, LRO, too few queues.
// Where the reason is known before attaching (Driver.checkNative), Err is
// ErrLROOn or ErrMTUAboveXDPLimit and nothing was attached. Otherwise the
// driver refused the attach: the kernel tells the reason only to netlink
// callers, and a bpf_link attach gets the errno alone (EINVAL, or veth's
// ERANGE, ENOSPC, ENOTCONN).
type DriverRefusedError struct {
	Interface string
	// Driver is the driver's name, where known.
	Driver string
	MTU    int
	// Limit is the largest MTU the driver takes with XDP, where known.
	Limit int
	// Frags tells whether the program handles multi-buffer frames; one
	// that does not cannot take frames larger than a page.
	Frags bool
	Err   error
}

func (e *DriverRefusedError) Error() string {
	if e.Limit > 0 {
		return fmt.Sprintf("driver of %q refuses native XDP: MTU %d above its XDP limit %d", e.Interface, e.MTU, e.Limit)
	}
	return fmt.Sprintf("driver of %q refused native XDP: %v", e.Interface, e.Err)
}

func (e *DriverRefusedError) Unwrap() error { return e.Err }

// maxLinearMTU is roughly the largest MTU whose frames fit one 4 KiB page
// with XDP's headroom and the skb's shared info: drivers refuse a program
// without frags support on a larger MTU.
const maxLinearMTU = 3498

// MTUTooLarge tells whether the MTU is likely why the driver refused: it
// is above the driver's known limit, or the program cannot take
// multi-buffer frames and the MTU needs them.
func (e *DriverRefusedError) MTUTooLarge() bool {
	return errors.Is(e.Err, ErrMTUAboveXDPLimit) || !e.Frags && e.MTU > maxLinearMTU
}

// ObjectOpenError means the program object at Path could not be opened:
// Err is the file system's error (fs.ErrNotExist, fs.ErrPermission, ...).
type ObjectOpenError struct {
	Path string
	Err  error
}

func (e *ObjectOpenError) Error() string {
	return fmt.Sprintf("opening XDP program object %q: %v", e.Path, e.Err)
}

func (e *ObjectOpenError) Unwrap() error { return e.Err }

// UnsafeObjectError means a program object could have been written by
// someone other than root and the user this process runs as: through the
// file itself, or through a directory on its path, where one could put
// another file in its place. Loading it would give them this process's
// privileges in the kernel, so it is never loaded.
type UnsafeObjectError struct {
	Path string
	// Reason says who else could have written it, and through what.
	Reason string
}

func (e *UnsafeObjectError) Error() string {
	return fmt.Sprintf("program object %q is unsafe to load: %s", e.Path, e.Reason)
}
