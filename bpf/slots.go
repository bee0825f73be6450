//go:build linux

package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// slotTable hands out slots and keeps the kernel's way from an interface
// index to its slot (counter.c, slot_of): the slot index, an array where
// most interfaces sit at ifindex modulo its size, and the slots hash for
// those whose position another interface holds.
type slotTable struct {
	index    *ebpf.Map // slot_index: position -> slot_entry
	hash     *ebpf.Map // slots: ifindex -> slot
	counters *ebpf.Map
	cpus     int

	// free are the slots no interface holds, oldest release first: a slot
	// rests as long as possible before it serves again.
	free []uint32
	// owners are the positions of the slot index in use, by the ifindex
	// that holds them.
	owners map[uint32]uint32
	// inHash are the interfaces whose entry is in the hash.
	inHash map[uint32]bool
	// high is one past the highest slot ever handed out: reads stop there.
	high uint32
	zero []Counts // a zero value per CPU, to clear a slot before reuse
}

func newSlotTable(index, hash, counters *ebpf.Map, capacity, cpus int) slotTable {
	free := make([]uint32, capacity)
	for i := range free {
		free[i] = uint32(i) + 1 // slot 0 is SLOT_UNATTRIBUTED
	}
	return slotTable{index: index, hash: hash, counters: counters, cpus: cpus, free: free,
		owners: map[uint32]uint32{}, inHash: map[uint32]bool{}, high: 1, zero: make([]Counts, cpus)}
}

const slotIndexSize = uint32(counterSlotLayoutSLOT_INDEX_SIZE)

// acquire takes a free slot, cleared, for an interface.
func (t *slotTable) acquire() (uint32, error) {
	if len(t.free) == 0 {
		return 0, ErrCapacity
	}
	slot := t.free[0]
	// Nothing counts into a free slot: clearing it gives the new interface
	// counters that start from zero.
	if err := t.counters.Update(slot, t.zero, ebpf.UpdateExist); err != nil {
		return 0, fmt.Errorf("clear slot %d: %w", slot, err)
	}
	t.free = t.free[1:]
	t.high = max(t.high, slot+1)
	return slot, nil
}

// release makes slot free again. The caller has read its last counts.
func (t *slotTable) release(slot uint32) {
	t.free = append(t.free, slot)
}

// bind makes packets of the interface ifindex count in slot: before any
// program is attached to it.
func (t *slotTable) bind(ifindex, slot uint32) error {
	pos := ifindex % slotIndexSize
	if t.owners[pos] == ifindex || t.inHash[ifindex] {
		return fmt.Errorf("interface %d has a slot already", ifindex)
	}
	if _, taken := t.owners[pos]; !taken {
		// The position is free: no program reads it for this interface
		// yet, and others never take a mix of old and new for their own.
		if err := t.index.Update(pos, counterSlotEntry{Ifindex: ifindex, Slot: slot}, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("index slot %d of interface %d: %w", slot, ifindex, err)
		}
		t.owners[pos] = ifindex
		return nil
	}
	if err := t.hash.Update(ifindex, slot, ebpf.UpdateNoExist); err != nil {
		return fmt.Errorf("index slot %d of interface %d: %w", slot, ifindex, err)
	}
	t.inHash[ifindex] = true
	return nil
}

// unbind forgets the interface: after every program was detached from it.
func (t *slotTable) unbind(ifindex uint32) error {
	if t.inHash[ifindex] {
		delete(t.inHash, ifindex)
		if err := t.hash.Delete(ifindex); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("unindex interface %d: %w", ifindex, err)
		}
		return nil
	}
	pos := ifindex % slotIndexSize
	if t.owners[pos] != ifindex {
		return nil
	}
	delete(t.owners, pos)
	if err := t.index.Update(pos, counterSlotEntry{}, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("unindex interface %d: %w", ifindex, err)
	}
	return nil
}
