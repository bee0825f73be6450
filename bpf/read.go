//go:build linux

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// readBatch is how many slots one batch lookup reads: a few syscalls read
// hundreds of interfaces.
const readBatch = 128

// reader reads the counters map in batches into buffers that it keeps, so
// that a read costs a few syscalls and no garbage.
type reader struct {
	m      *ebpf.Map
	cpus   int
	keys   []uint32
	values []Counts // readBatch * cpus: each slot's per-CPU values in turn
	batch  bool
}

func newReader(m *ebpf.Map) (*reader, error) {
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, err
	}
	return &reader{m: m, cpus: cpus, keys: make([]uint32, readBatch), values: make([]Counts, readBatch*cpus), batch: true}, nil
}

// Read fills s with the counters of every slot handed out so far, summed
// over CPUs. The counters only grow while a slot serves an interface: Read
// never clears them, so no packet counted between two reads is lost.
// Callers take deltas.
func (d *Datapath) Read(s *Snapshot) error {
	n := int(d.slots.high)
	if cap(*s) < n {
		*s = make(Snapshot, n)
	}
	*s = (*s)[:n]
	return d.reader.read(*s)
}

func (r *reader) read(dst []Counts) error {
	if r.batch {
		err := r.readBatches(dst)
		if !errors.Is(err, ebpf.ErrNotSupported) {
			return err
		}
		// Batch lookups need Linux 5.6; read slot by slot from now on.
		r.batch = false
	}
	for slot := range dst {
		if err := r.m.Lookup(uint32(slot), r.values[:r.cpus]); err != nil {
			return fmt.Errorf("read slot %d: %w", slot, err)
		}
		r.sum(dst[slot:slot+1], 1)
	}
	return nil
}

// readBatches reads dst's slots from the start, readBatch at a time. An
// array's batch returns its slots in key order.
func (r *reader) readBatches(dst []Counts) error {
	var cursor ebpf.MapBatchCursor
	for done := 0; done < len(dst); {
		want := min(readBatch, len(dst)-done)
		n, err := r.m.BatchLookup(&cursor, r.keys[:want], r.values[:want*r.cpus], nil)
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			// An array's batch ends with ENOENT at its last slot.
			err = nil
		}
		if err != nil {
			return err
		}
		if n != want {
			return fmt.Errorf("batch lookup returned %d of %d slots from slot %d", n, want, done)
		}
		r.sum(dst[done:done+n], n)
		done += n
	}
	return nil
}

// sum adds up the per-CPU values of n slots into dst.
func (r *reader) sum(dst []Counts, n int) {
	for i := range n {
		c := &dst[i]
		*c = Counts{}
		for cpu := i * r.cpus; cpu < (i+1)*r.cpus; cpu++ {
			v := &r.values[cpu]
			for d := range c.Dir {
				for k := range c.Dir[d] {
					c.Dir[d][k].Packets += v.Dir[d][k].Packets
					c.Dir[d][k].Bytes += v.Dir[d][k].Bytes
				}
			}
		}
	}
}

// ReadSlot reads one slot's counters now, summed over CPUs: an interface's
// last counts after Detach, without reading every other slot.
func (d *Datapath) ReadSlot(slot uint32) (Counts, error) {
	r := d.reader
	if err := r.m.Lookup(slot, r.values[:r.cpus]); err != nil {
		return Counts{}, fmt.Errorf("read slot %d: %w", slot, err)
	}
	var c [1]Counts
	r.sum(c[:], 1)
	return c[0], nil
}
