//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// objects is what one attachment loads: the program and its own counters
// map. Each attachment loads its own pair, so two interfaces never share a
// counter and a new attachment always starts from zero.
type objects struct {
	Program  *ebpf.Program `ebpf:"xdp_count"`
	Counters *ebpf.Map     `ebpf:"counters"`
}

func (o *objects) Close() error {
	return errors.Join(o.Program.Close(), o.Counters.Close())
}

// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones ignore it.
var removeMemlock = sync.OnceValue(rlimit.RemoveMemlock)

// Instance is the XDP counter program with a counters map of its own, loaded
// into the kernel but not attached to anything.
type Instance struct {
	objs   *objects
	reader *reader
}

// Load loads the embedded counter with a fresh, zeroed counters map. It is
// frags-aware where the kernel supports it (5.18+), so that multi-buffer
// frames count their whole length, and loaded without frags on older kernels,
// where no frame has more than one buffer.
func Load() (*Instance, error) {
	objs, err := load()
	if err != nil {
		return nil, err
	}
	return newInstance(objs)
}

func newInstance(objs *objects) (*Instance, error) {
	r, err := newReader(objs.Counters)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("preparing to read XDP counters: %w", err), objs.Close())
	}
	return &Instance{objs: objs, reader: r}, nil
}

// Program is the loaded XDP program, for BPF_PROG_TEST_RUN and benchmarks.
func (c *Instance) Program() *ebpf.Program { return c.objs.Program }

// Read fills t with the counters, summed over CPUs. They are monotonic from
// the moment of loading: Read never clears them, so no packet counted between
// two reads is lost. Callers take deltas.
func (c *Instance) Read(t *Totals) error { return c.reader.read(t) }

// Close frees the program and its map. It is safe to call more than once.
func (c *Instance) Close() error {
	if c.objs == nil {
		return nil
	}
	err := c.objs.Close()
	c.objs = nil
	return err
}

func load() (*objects, error) {
	if err := removeMemlock(); err != nil {
		return nil, permissionError("raising RLIMIT_MEMLOCK for BPF maps", err)
	}
	objs, err := loadWithFrags(true)
	if errors.Is(err, unix.EINVAL) {
		// Kernels before 5.18 reject the unknown BPF_F_XDP_HAS_FRAGS flag.
		objs, err = loadWithFrags(false)
	}
	if err != nil {
		return nil, permissionError("loading the XDP counter program", err)
	}
	return objs, nil
}

func loadWithFrags(frags bool) (*objects, error) {
	spec, err := loadCounter()
	if err != nil {
		return nil, err
	}
	if !frags {
		spec.Programs[counterProgXdpCount].Flags &^= unix.BPF_F_XDP_HAS_FRAGS
		if err := spec.Variables[counterVarFragsAware].Set(uint8(0)); err != nil {
			return nil, err
		}
	}
	var objs objects
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, err
	}
	return &objs, nil
}

// permissionError explains EPERM, the error a user meets when the collector
// lacks privileges, and wraps every other error with its context.
//
// On Linux 5.18 and later CAP_BPF and CAP_NET_ADMIN suffice. Before 5.18 the
// program also needs CAP_PERFMON: without frags support it moves packet
// pointers by lengths read from the packet, which the verifier allows only to
// programs that may bypass its Spectre v1 masking.
func permissionError(what string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("%s: %w: run the collector as root, or grant it CAP_BPF and CAP_NET_ADMIN "+
			"(for example: setcap cap_bpf,cap_net_admin+ep otelcol-xdp; add cap_perfmon on kernels before 5.18)", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}
