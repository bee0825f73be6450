package bpf

import "errors"

// The types here build on every platform, so that the receiver, which
// refers to them, builds everywhere a collector does; what loads and
// attaches programs is Linux only.

// Options are the settings of a Datapath.
type Options struct {
	// Capacity is how many interfaces the datapath counts at once. Its
	// counters take (Capacity + 1) x 640 bytes x possible CPUs of kernel
	// memory, allocated at Load.
	Capacity int

	// TCLegacy attaches TC as clsact filters even where TCX exists: the
	// path kernels before 6.6 take, for tests on newer kernels.
	TCLegacy bool

	// withoutFrags loads XDP as on kernels before 5.18 (export_test.go).
	withoutFrags bool
}

// ErrCapacity means every slot serves an interface already.
var ErrCapacity = errors.New("every slot of the datapath serves an interface")

// Placement says where a direction of an interface is counted, and why
// there.
type Placement struct {
	Hook Hook
	// Reason is why auto mode chose the hook, or that the mode forced it.
	Reason string
	// ProgramID is the id of the program counting.
	ProgramID uint32
}
