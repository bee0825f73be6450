//go:build linux

package baseline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// Learner is tc_count_rx built with BENCH_LEARN (counter.c): the counter
// that also learns, at TC ingress of a pod veth's host end, the source
// addresses of the packets the pod sends. It has maps of its own, with
// slot 1 the slot of one interface, for BPF_PROG_TEST_RUN.
type Learner struct {
	Prog *ebpf.Program `ebpf:"tc_count_rx"`
	// The maps it uses; LoadAndAssign loads only those that something
	// assigned uses.
	Counters  *ebpf.Map `ebpf:"counters"`
	SlotIndex *ebpf.Map `ebpf:"slot_index"`
}

// LearningSlot is a slot of the learning counter's map, on one CPU: the
// counters and the addresses learnt.
type LearningSlot = learnLearningSlot

// LoadLearner loads the learning tc_count_rx with slot 1 for the interface
// with index ifindex: test runs count there when they run on that
// interface (lo, index 1, for BPF_PROG_TEST_RUN).
func LoadLearner(ifindex uint32) (*Learner, error) {
	spec, err := loadLearn()
	if err != nil {
		return nil, err
	}
	spec.Maps[learnMapCounters].MaxEntries = 2
	var l Learner
	if err := spec.LoadAndAssign(&l, nil); err != nil {
		return nil, fmt.Errorf("load learning counter: %w", err)
	}
	// Where slot_of() looks first: at ifindex modulo the index's size.
	size := spec.Maps[learnMapSlotIndex].MaxEntries
	if err := l.SlotIndex.Put(ifindex%size, learnSlotEntry{Ifindex: ifindex, Slot: 1}); err != nil {
		return nil, errors.Join(fmt.Errorf("learning counter: put slot of ifindex %d: %w", ifindex, err), l.Close())
	}
	return &l, nil
}

// Slot returns slot 1, one value per possible CPU.
func (l *Learner) Slot() ([]LearningSlot, error) {
	var v []LearningSlot
	if err := l.Counters.Lookup(uint32(1), &v); err != nil {
		return nil, fmt.Errorf("learning counter: read slot 1: %w", err)
	}
	return v, nil
}

// Close closes the program and its maps.
func (l *Learner) Close() error {
	return errors.Join(l.Prog.Close(), l.Counters.Close(), l.SlotIndex.Close())
}

// Sources returns the addresses a value holds, each invalid when none was
// learnt. The program stores them as the packet carries them, network
// order, in native-endian integers.
func (s *LearningSlot) Sources() (v4, v6 netip.Addr) {
	var b4 [4]byte
	var b6 [16]byte
	binary.NativeEndian.PutUint32(b4[:], s.Source.Ipv4)
	binary.NativeEndian.PutUint64(b6[:8], s.Source.Ipv6[0])
	binary.NativeEndian.PutUint64(b6[8:], s.Source.Ipv6[1])
	if s.Source.Ipv4 != 0 {
		v4 = netip.AddrFrom4(b4)
	}
	if s.Source.Ipv6 != [2]uint64{} {
		v6 = netip.AddrFrom16(b6)
	}
	return v4, v6
}
