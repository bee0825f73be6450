package xdpreceiver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestStateNames: every state, fault and event has a name, for logs and
// the status.
func TestStateNames(t *testing.T) {
	for s := statePending; s <= stateForgotten; s++ {
		assert.NotEmpty(t, s.String())
	}
	for f := faultGone; f <= faultRead; f++ {
		assert.NotEmpty(t, f.String())
	}
	assert.Empty(t, faultNone.String())
	for e := evAttached; e <= evReplaced; e++ {
		assert.NotEmpty(t, e.String())
	}
}

// TestMoves covers the lifecycle move by move: every event from every
// state goes where this table says, with the fault it says, and an event
// the table leaves out cannot happen in that state.
func TestMoves(t *testing.T) {
	type from struct {
		s state
		e event
	}
	type to struct {
		s state
		f fault
	}
	want := map[from]to{}
	each := func(e event, states []state, s state, f fault) {
		for _, st := range states {
			want[from{st, e}] = to{s, f}
		}
	}
	// An interface is attached from wherever it waits: pending, gone
	// (named exactly, back), skipped (a pattern's, freed by another
	// instance) or faulted (tried again).
	waitingStates := []state{statePending, stateGone, stateSkipped, stateFaulted}
	each(evAttached, waitingStates, stateAttached, faultNone)
	each(evAttachFailed, waitingStates, stateFaulted, faultAttach)
	each(evForeign, waitingStates, stateFaulted, faultForeign)
	// A pattern's interface, never gone, is skipped while claimed
	// elsewhere; an exact name's is a fault.
	each(evSkipped, []state{statePending, stateSkipped, stateFaulted}, stateSkipped, faultNone)
	each(evClaimed, []state{statePending, stateGone, stateFaulted}, stateFaulted, faultClaimed)
	// Whatever is wanted can go, once its attachment ended: an exact
	// name, never skipped, is gone until it returns; a pattern's
	// interface, never gone, is forgotten.
	each(evGone, []state{statePending, stateAttached, stateGone, stateFaulted}, stateGone, faultGone)
	each(evForgotten, []state{statePending, stateAttached, stateSkipped, stateFaulted}, stateForgotten, faultNone)
	// Only what is attached is read, found detached, or replaced.
	each(evRead, []state{stateAttached}, stateAttached, faultNone)
	each(evReadFailed, []state{stateAttached}, stateAttached, faultRead)
	each(evDetached, []state{stateAttached}, stateFaulted, faultDetached)
	each(evReplaced, []state{stateAttached}, statePending, faultNone)

	moved := 0
	for s := statePending; s <= stateForgotten; s++ {
		for e := evAttached; e <= evReplaced; e++ {
			gotS, gotF, ok := next(s, e)
			w, allowed := want[from{s, e}]
			if !allowed {
				assert.False(t, ok, "%s in state %s is refused", e, s)
				assert.Equal(t, s, gotS, "a refused event leaves the state")
				continue
			}
			moved++
			if assert.True(t, ok, "%s in state %s", e, s) {
				assert.Equal(t, w, to{gotS, gotF}, "%s in state %s", e, s)
			}
		}
	}
	assert.Equal(t, len(want), moved)
}

// TestMoveSetsFault: a move sets the state, fault and error together, and
// logs a fault only when it is new; a move nothing allows panics, naming
// the interface, rather than leaving it in a state no one meant.
func TestMoveSetsFault(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	l := newLifecycle(nil, nil, nil, zap.New(core))
	ifc := &iface{name: "eth0"}
	errA := errors.New("fake: attach refused")

	l.move(ifc, evAttachFailed, errA)
	assert.Equal(t, stateFaulted, ifc.state)
	assert.Equal(t, faultAttach, ifc.fault)
	assert.Equal(t, errA, ifc.err)
	l.move(ifc, evAttachFailed, errors.New("fake: attach refused, worded otherwise"))
	assert.Equal(t, 1, logs.FilterMessage("interface is not counted").Len(), "the same fault again is not logged again")

	l.move(ifc, evAttached, nil)
	assert.Equal(t, stateAttached, ifc.state)
	assert.Equal(t, faultNone, ifc.fault)
	assert.NoError(t, ifc.err)

	// A move the table does not have panics in development, as tests run.
	dev := newLifecycle(nil, nil, nil, zap.New(zapcore.NewNopCore(), zap.Development()))
	require.Panics(t, func() { dev.move(ifc, evAttached, nil) })
	// In production it is logged, and the interface stays where it is.
	l.move(ifc, evAttached, nil)
	assert.Equal(t, stateAttached, ifc.state)
	assert.Equal(t, 1, logs.FilterMessage(`xdp receiver: interface "eth0" cannot be attached in state attached`).Len())
}
