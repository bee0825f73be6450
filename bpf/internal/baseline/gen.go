//go:build linux

// Package baseline holds the programs that benchmarks measure the counter
// against: empty XDP and TC programs (the floors) and the seed design (a
// hash map keyed by ethertype, incremented atomically).
package baseline

import (
	"io"

	"github.com/cilium/ebpf"
)

//go:generate go tool bpf2go -tags linux baseline baseline.c -- -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu -Wall -Werror

// The counter as a copy per interface, with slot 1 a load-time constant:
// the design alternative make bench sets beside the slot index.
//go:generate go tool bpf2go -tags linux slotconst ../../counter.c -- -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu -Wall -Werror -DBENCH_SLOT=1

// The counter that learns the source addresses of the packets a pod sends,
// at TC ingress of its veth's host end: the design alternative make bench
// sets beside tc_count_rx (learn.go).
//go:generate go tool bpf2go -tags linux -type learning_slot learn ../../counter.c -- -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu -Wall -Werror -DBENCH_LEARN

// SlotConst is xdp_count with its slot a load-time constant, 1, loaded with
// maps of its own, for BPF_PROG_TEST_RUN.
func SlotConst() (*ebpf.Program, io.Closer, error) {
	spec, err := loadSlotconst()
	if err != nil {
		return nil, nil, err
	}
	spec.Maps["counters"].MaxEntries = 2
	delete(spec.Programs, "xdp_count_linear")
	var objs struct {
		Prog *ebpf.Program `ebpf:"xdp_count"`
	}
	if err := spec.LoadAndAssign(&objs, nil); err != nil {
		return nil, nil, err
	}
	return objs.Prog, objs.Prog, nil
}

// Objects are the loaded baseline programs and the seed's map.
type Objects = baselineObjects

// Load loads the baseline programs into the kernel.
func Load() (*Objects, error) {
	var objs baselineObjects
	if err := loadBaselineObjects(&objs, nil); err != nil {
		return nil, err
	}
	return &objs, nil
}
