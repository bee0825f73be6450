//go:build linux

package bpf

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
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
	frags  bool
}

// Load loads the embedded counter with a fresh, zeroed counters map. It is
// frags-aware where the kernel supports it (5.18+), so that multi-buffer
// frames count their whole length, and loaded without frags on older kernels,
// where no frame has more than one buffer.
func Load() (*Instance, error) {
	if err := removeMemlock(); err != nil {
		return nil, fmt.Errorf("raise RLIMIT_MEMLOCK for BPF maps: %w", err)
	}
	frags, err := haveFrags()
	if err != nil {
		return nil, err
	}
	objs, err := loadWithFrags(frags)
	if err != nil {
		return nil, fmt.Errorf("load XDP counter: %w", err)
	}
	return newInstance(objs, frags)
}

func newInstance(objs *objects, frags bool) (*Instance, error) {
	r, err := newReader(objs.Counters)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("prepare to read XDP counters: %w", err), objs.Close())
	}
	return &Instance{objs: objs, reader: r, frags: frags}, nil
}

// Frags tells whether the program was loaded frags-aware (Linux 5.18+).
func (c *Instance) Frags() bool { return c.frags }

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

// haveFrags tells whether the kernel loads XDP programs frags-aware
// (BPF_F_XDP_HAS_FRAGS, Linux 5.18, which also brought
// bpf_xdp_get_buff_len). Probing the helper, rather than retrying a failed
// load without frags, keeps the error of the one load that matters.
var haveFrags = sync.OnceValues(func() (bool, error) {
	err := features.HaveProgramHelper(ebpf.XDP, asm.FnXdpGetBuffLen)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ebpf.ErrNotSupported):
		return false, nil
	default:
		return false, fmt.Errorf("probe XDP multi-buffer support: %w", err)
	}
})

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
