//go:build linux

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// reader reads a counters map with one batch lookup into buffers that it
// allocates once, so that a read costs one syscall and no garbage.
type reader struct {
	m      *ebpf.Map
	cpus   int
	keys   []uint32
	values []Counter // NumClasses * cpus: every class's per-CPU values in turn
	batch  bool
}

func newReader(m *ebpf.Map) (*reader, error) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	r := &reader{m: m, cpus: cpus, keys: make([]uint32, NumClasses), values: make([]Counter, NumClasses*cpus), batch: true}
	return r, nil
}

func (r *reader) read(t *Totals) error {
	if r.batch {
		err := r.readBatch()
		if !errors.Is(err, ebpf.ErrNotSupported) {
			if err != nil {
				return err
			}
			r.sum(t)
			return nil
		}
		// Batch lookups need Linux 5.6; read slot by slot from now on.
		r.batch = false
	}
	for i := range NumClasses {
		if err := r.m.Lookup(uint32(i), r.values[i*r.cpus:(i+1)*r.cpus]); err != nil {
			return err
		}
	}
	r.sum(t)
	return nil
}

func (r *reader) readBatch() error {
	var cursor ebpf.MapBatchCursor
	n, err := r.m.BatchLookup(&cursor, r.keys, r.values, nil)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		// An array's batch ends with ENOENT once the last slot is read.
		err = nil
	}
	if err != nil {
		return err
	}
	if n != NumClasses {
		return fmt.Errorf("batch lookup returned %d of %d slots", n, NumClasses)
	}
	return nil
}

// sum adds up each class's per-CPU values. The batch returns slots in key
// order, which for an array is class order.
func (r *reader) sum(t *Totals) {
	for i := range NumClasses {
		var c Counter
		for _, v := range r.values[i*r.cpus : (i+1)*r.cpus] {
			c.Packets += v.Packets
			c.Bytes += v.Bytes
		}
		t[i] = c
	}
}
