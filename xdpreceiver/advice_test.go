package xdpreceiver

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// TestAdvice gives each error of package bpf its own advice, and keeps
// the error itself testable with errors.Is and errors.As.
func TestAdvice(t *testing.T) {
	hostInterfaces := func() []string { return []string{"lo", "eth0"} }
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"not found", &bpf.InterfaceNotFoundError{Name: "eth9"},
			"interface \"eth9\" not found; check the name with `ip link`; interfaces on this host: eth0, lo"},
		{"foreign", &bpf.ForeignProgramError{Interface: "eth0", ProgramID: 42},
			`interface "eth0" already has XDP program id 42 attached: otelcol-xdp never replaces another program; ` +
				`set attach_mode to auto, which counts beside it at TC, detach it (bpftool net detach xdp dev eth0), ` +
				`or remove "eth0" from this receiver`},
		{"no native", fmt.Errorf("attach XDP to %q in native mode: %w", "br0", bpf.ErrNoNativeXDP),
			`attach XDP to "br0" in native mode: driver has no native XDP support: set attach_mode to auto ` +
				`or tc, which count at TC, or to generic`},
		{"capacity", fmt.Errorf("count %q: %w", "veth512", bpf.ErrCapacity),
			`count "veth512": every slot of the datapath serves an interface: raise max_interfaces (each slot takes ` +
				`640 bytes of kernel memory per possible CPU), or match fewer interfaces`},
		{"mtu", &bpf.DriverRefusedError{Interface: "eth0", MTU: 9000, Err: syscall.EINVAL},
			`driver of "eth0" refused native XDP: invalid argument: its MTU 9000 is too large for XDP without multi-buffer ` +
				`support, which needs Linux 5.18: lower the MTU, or set attach_mode to auto or tc, which count at TC, or to generic`},
		{"driver", &bpf.DriverRefusedError{Interface: "eth0", MTU: 9000, Frags: true, Err: syscall.EINVAL},
			`driver of "eth0" refused native XDP: invalid argument: drivers refuse native XDP when LRO is on ` +
				`(ethtool -K eth0 lro off), when they have too few queues, or for an MTU they cannot take; the kernel log ` +
				`says which; or set attach_mode to auto or tc, which count at TC, or to generic`},
		{"lro", &bpf.DriverRefusedError{Interface: "eth0", Driver: "mlx5_core", MTU: 1500, Frags: true, Err: bpf.ErrLROOn},
			`driver of "eth0" refused native XDP: driver refuses XDP while LRO or hardware GRO is on: turn them off ` +
				`(ethtool -K eth0 lro off rx-gro-hw off), or set attach_mode to auto or tc, which count at TC and change ` +
				`nothing in the driver`},
		{"mtu limit", &bpf.DriverRefusedError{Interface: "eth0", Driver: "ena", MTU: 9001, Limit: 3498, Frags: true, Err: bpf.ErrMTUAboveXDPLimit},
			`driver of "eth0" refuses native XDP: MTU 9001 above its XDP limit 3498: lower the MTU to 3498 or less, ` +
				`or set attach_mode to auto or tc, which count at TC and change nothing in the driver`},
		{"no xdp link", fmt.Errorf("attach XDP to %q: %w", "eth0", bpf.ErrNoXDPLink),
			`attach XDP to "eth0": kernel cannot attach XDP through a bpf_link (Linux 5.9+): otelcol-xdp attaches only ` +
				`through bpf_link, so that no program outlives it; upgrade to Linux 5.9 or later`},
		{"eperm", fmt.Errorf("load XDP counter: %w", syscall.EPERM),
			"load XDP counter: operation not permitted: " + privilegeAdvice},
		{"eacces", fmt.Errorf("load XDP counter: %w", syscall.EACCES),
			"load XDP counter: permission denied: " + privilegeAdvice},
		{"unsafe object", &bpf.UnsafeObjectError{Path: "/home/dev/prog.o", Reason: "it is writable by its group, gid 1000 (mode 0664)"},
			`program object "/home/dev/prog.o" is unsafe to load: it is writable by its group, gid 1000 (mode 0664): whoever can ` +
				`change the object, or a directory on its path, gets the collector's privileges in the kernel on every interface ` +
				`it counts; install it where only root can write, for example install -o root -g root -m 0644 prog.o /etc/otelcol/, ` +
				`and set program.object to the copy's path`},
		{"object missing", &bpf.ObjectOpenError{Path: "/etc/otelcol/prog.o", Err: &fs.PathError{Op: "open", Path: "/etc/otelcol/prog.o", Err: syscall.ENOENT}},
			`opening XDP program object "/etc/otelcol/prog.o": open /etc/otelcol/prog.o: no such file or directory: check program.object`},
		{"object unreadable", &bpf.ObjectOpenError{Path: "/etc/otelcol/prog.o", Err: &fs.PathError{Op: "open", Path: "/etc/otelcol/prog.o", Err: syscall.EACCES}},
			`opening XDP program object "/etc/otelcol/prog.o": open /etc/otelcol/prog.o: permission denied: check program.object: ` + privilegeAdvice},
		{"not elf", fmt.Errorf("XDP program object %q is %w", "/etc/otelcol/prog.txt", bpf.ErrNotELF),
			`XDP program object "/etc/otelcol/prog.txt" is not an ELF file: give the object that clang -target bpf -O2 -g -c prog.c -o prog.o writes`},
		{"invalid object", fmt.Errorf("reading XDP program object %q: %w: %w", "/usr/bin/ls", bpf.ErrInvalidObject, errors.New("unexpected machine type for BPF ELF: EM_X86_64")),
			`reading XDP program object "/usr/bin/ls": invalid BPF object: unexpected machine type for BPF ELF: EM_X86_64: is it a BPF object (clang -target bpf)?`},
		{"map entry program", fmt.Errorf("program %q in %q is %w (SEC(%q)); its programs: %s", "xdp_dev", "/etc/otelcol/prog.o", bpf.ErrMapEntryProgram, "xdp/devmap", "xdp_dev (XDP)"),
			`program "xdp_dev" in "/etc/otelcol/prog.o" is for a devmap or cpumap entry, which the kernel does not attach to an interface ` +
				`(SEC("xdp/devmap")); its programs: xdp_dev (XDP): set program.function_name to a program of SEC("xdp")`},
		{"not xdp", fmt.Errorf("program %q in %q is a %s program, %w; its programs: %s", "tc_pass", "/etc/otelcol/prog.o", "SchedCLS", bpf.ErrNotXDP, "tc_pass (SchedCLS)"),
			`program "tc_pass" in "/etc/otelcol/prog.o" is a SchedCLS program, not XDP; its programs: tc_pass (SchedCLS): ` +
				`the receiver attaches XDP programs only (SEC("xdp") in the C source)`},
		{"not a counter map", fmt.Errorf("map %q in %q is a %s with %d-byte keys and %d-byte values, %w", "events", "/etc/otelcol/prog.o", "RingBuf", 0, 0, bpf.ErrNotCounterMap),
			`map "events" in "/etc/otelcol/prog.o" is a RingBuf with 0-byte keys and 0-byte values, not an Array, Hash, PerCPUArray or ` +
				`PerCPUHash with 4-byte keys and 8-byte values: set program.map to a map of __u32 keys to __u64 counters`},
		{"xdp at tc", fmt.Errorf("attach program %q to %q: %w", "xdp_count", "eth0", bpf.ErrXDPAtTC),
			`attach program "xdp_count" to "eth0": XDP programs do not run at TC: attach mode tc is for the built-in counter only; ` +
				`set attach_mode to auto, native or generic`},
		{"other", errors.New("something else"), "something else"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := advise(tc.err, hostInterfaces)
			assert.EqualError(t, got, tc.want)
			assert.ErrorIs(t, got, tc.err, "the advice wraps the error")
		})
	}
	assert.NoError(t, advise(nil, hostInterfaces))
}
