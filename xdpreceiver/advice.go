package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// privilegeAdvice is what to do about a permission error: the capabilities
// the collector needs (docs/least-privilege.md).
const privilegeAdvice = "run the collector as root, or grant it CAP_BPF and CAP_NET_ADMIN " +
	"(for example: setcap cap_bpf,cap_net_admin+ep otelcol-xdp; add cap_perfmon on kernels before 5.18)"

// advise adds to an error of package bpf what the user can do about it.
// Package bpf says what failed, briefly; this is the one place where the
// receiver's errors get advice. hostInterfaces lists the interfaces that
// do exist, for an interface that does not.
func advise(err error, hostInterfaces func() []string) error {
	var foreign *bpf.ForeignProgramError
	var refused *bpf.DriverRefusedError
	var unsafe *bpf.UnsafeObjectError
	var open *bpf.ObjectOpenError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bpf.ErrInterfaceNotFound):
		names := "unknown"
		if hostInterfaces != nil {
			names = strings.Join(slices.Sorted(slices.Values(hostInterfaces())), ", ")
		}
		return fmt.Errorf("%w; check the name with `ip link`; interfaces on this host: %s", err, names)
	case errors.As(err, &foreign):
		return fmt.Errorf("%w: otelcol-xdp never replaces another program; set attach_mode to auto, which counts "+
			"beside it at TC, detach it (bpftool net detach xdp dev %s), or remove %q from this receiver",
			err, foreign.Interface, foreign.Interface)
	case errors.Is(err, bpf.ErrNoNativeXDP):
		return fmt.Errorf("%w: set attach_mode to auto or tc, which count at TC, or to generic", err)
	case errors.Is(err, bpf.ErrCapacity):
		return fmt.Errorf("%w: raise max_interfaces (each slot takes 640 bytes of kernel memory per possible CPU), "+
			"or match fewer interfaces", err)
	case errors.As(err, &refused) && errors.Is(err, bpf.ErrLROOn):
		return fmt.Errorf("%w: turn them off (ethtool -K %s lro off rx-gro-hw off), or set attach_mode to auto or tc, "+
			"which count at TC and change nothing in the driver", err, refused.Interface)
	case errors.As(err, &refused) && errors.Is(err, bpf.ErrMTUAboveXDPLimit):
		return fmt.Errorf("%w: lower the MTU to %d or less, or set attach_mode to auto or tc, which count at TC "+
			"and change nothing in the driver", err, refused.Limit)
	case errors.As(err, &refused) && refused.MTUTooLarge():
		return fmt.Errorf("%w: its MTU %d is too large for XDP without multi-buffer support, which needs Linux 5.18: "+
			"lower the MTU, or set attach_mode to auto or tc, which count at TC, or to generic", err, refused.MTU)
	case errors.As(err, &refused):
		return fmt.Errorf("%w: drivers refuse native XDP when LRO is on (ethtool -K %s lro off), when they have too "+
			"few queues, or for an MTU they cannot take; the kernel log says which; or set attach_mode to auto or tc, which count at TC, or to generic",
			err, refused.Interface)
	case errors.Is(err, bpf.ErrNoXDPLink):
		return fmt.Errorf("%w: otelcol-xdp attaches only through bpf_link, so that no program outlives it; "+
			"upgrade to Linux 5.9 or later", err)
	case errors.As(err, &open) && errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%w: check program.object: %s", err, privilegeAdvice)
	case errors.As(err, &open):
		return fmt.Errorf("%w: check program.object", err)
	case errors.Is(err, bpf.ErrNotELF):
		return fmt.Errorf("%w: give the object that clang -target bpf -O2 -g -c prog.c -o prog.o writes", err)
	case errors.Is(err, bpf.ErrInvalidObject):
		return fmt.Errorf("%w: is it a BPF object (clang -target bpf)?", err)
	case errors.Is(err, bpf.ErrMapEntryProgram):
		return fmt.Errorf(`%w: set program.function_name to a program of SEC("xdp")`, err)
	case errors.Is(err, bpf.ErrNotXDP):
		return fmt.Errorf(`%w: the receiver attaches XDP programs only (SEC("xdp") in the C source)`, err)
	case errors.Is(err, bpf.ErrNotCounterMap):
		return fmt.Errorf("%w: set program.map to a map of __u32 keys to __u64 counters", err)
	case errors.Is(err, bpf.ErrXDPAtTC):
		return fmt.Errorf("%w: attach mode tc is for the built-in counter only; set attach_mode to auto, native or generic", err)
	case errors.As(err, &unsafe):
		return fmt.Errorf("%w: whoever can change the object, or a directory on its path, gets the collector's privileges "+
			"in the kernel on every interface it counts; install it where only root can write, for example "+
			"install -o root -g root -m 0644 %s /etc/otelcol/, and set program.object to the copy's path",
			err, path.Base(unsafe.Path))
	case errors.Is(err, os.ErrPermission):
		// EPERM and EACCES: no capability, or a verifier that refuses
		// without CAP_PERFMON ("pointer arithmetic ... prohibited for
		// !root") before 5.18.
		return fmt.Errorf("%w: %s", err, privilegeAdvice)
	}
	return err
}
