package xdpreceiver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// statusRegistry is a discovery of the given interfaces, as the status
// reads it.
func statusRegistry(ifcs ...*iface) *discovery {
	r := &discovery{ifaces: map[string]*iface{}}
	for _, ifc := range ifcs {
		r.ifaces[ifc.name] = ifc
	}
	return r
}

func hookOf(dir bpf.Direction, h bpf.Hook, reason string) placement {
	return placement{dir: dir, Placement: bpf.Placement{Hook: h, Reason: reason}}
}

// placedTap is a tap attached where placed says.
func placedTap(placed ...placement) *builtinTap[slotHandle] {
	return &builtinTap[slotHandle]{placed: placed}
}

// TestDescribe: an attached interface is described by where each
// direction is counted and why, and a fault it has while attached; any
// other by its state and the kind of its fault.
func TestDescribe(t *testing.T) {
	veth := placedTap(
		hookOf(bpf.Receive, bpf.HookTCX, "virtual interface (veth)"),
		hookOf(bpf.Transmit, bpf.HookTCX, "transmit is counted at TC egress"),
	)
	nic := placedTap(hookOf(bpf.Receive, bpf.HookXDPNative, "attach_mode: native"))
	for _, tc := range []struct {
		ifc  *iface
		want string
	}{
		{&iface{state: statePending}, "pending"},
		{&iface{state: stateGone, fault: faultGone}, "gone: gone"},
		{&iface{state: stateSkipped}, "skipped"},
		{&iface{state: stateFaulted, fault: faultForeign}, "faulted: foreign"},
		{&iface{state: stateFaulted, fault: faultDetached, tap: nic, held: true}, "faulted: detached"},
		{&iface{state: stateAttached}, "attached"},
		{&iface{state: stateAttached, tap: veth, held: true}, "receive: tcx (virtual interface (veth)), transmit: tcx (transmit is counted at TC egress)"},
		{&iface{state: stateAttached, tap: nic, held: true, fault: faultRead}, "receive: xdp-native (attach_mode: native); read"},
	} {
		assert.Equal(t, tc.want, describe(tc.ifc))
	}
}

// TestStatusUpdate: a change of faults is reported at once, as a
// recoverable error that joins every fault, or as OK once none is left; a
// change of hooks alone only when the caller asks (at a collection), and
// nothing twice. Every report describes every interface.
func TestStatusUpdate(t *testing.T) {
	(&statusReporter{}).update(statusRegistry(&iface{name: "eth0"}), errors.New("no host"), nil, true) // no host: nothing to report to

	host := newStatusHost()
	s := statusReporter{host: host}
	att := placedTap(hookOf(bpf.Receive, bpf.HookTCX, "virtual interface (veth)"))
	eth0 := &iface{name: "eth0", state: stateAttached, tap: att, held: true}
	eth1 := &iface{name: "eth1", state: statePending}
	r := statusRegistry(eth0, eth1)
	described := func() map[string]any {
		t.Helper()
		v, ok := host.last().Attributes().Get("interfaces")
		require.True(t, ok, "the report describes the interfaces")
		return v.Map().AsRaw()
	}

	s.update(r, nil, nil, false)
	assert.Zero(t, host.reports(), "no fault, and hooks not asked for")
	s.update(r, nil, nil, true)
	require.Equal(t, 1, host.reports())
	assert.Equal(t, componentstatus.StatusOK, host.last().Status())
	assert.Equal(t, map[string]any{"eth0": "receive: tcx (virtual interface (veth))", "eth1": "pending"}, described())
	s.update(r, nil, nil, true)
	assert.Equal(t, 1, host.reports(), "nothing changed")

	errAttach := errors.New(`attaching to "eth1": fake`)
	eth1.state, eth1.err, eth1.fault = stateFaulted, errAttach, faultAttach
	s.update(r, nil, nil, false)
	require.Equal(t, 2, host.reports(), "a new fault is reported at once")
	assert.Equal(t, componentstatus.StatusRecoverableError, host.last().Status())
	assert.ErrorIs(t, host.last().Err(), errAttach)
	assert.Equal(t, "faulted: attach", described()["eth1"])

	eth1.err = errors.New(`attaching to "eth1": fake, worded otherwise`)
	s.update(r, nil, nil, true)
	assert.Equal(t, 2, host.reports(), "the same kind of fault, in other words, is the same fault")

	att.placed = append(att.placed, hookOf(bpf.Transmit, bpf.HookTCX, "transmit is counted at TC egress"))
	s.update(r, nil, nil, false)
	assert.Equal(t, 2, host.reports(), "hooks alone wait for a collection")
	s.update(r, nil, nil, true)
	require.Equal(t, 3, host.reports())
	assert.Equal(t, componentstatus.StatusRecoverableError, host.last().Status(), "the fault is still there")
	assert.Equal(t, "receive: tcx (virtual interface (veth)), transmit: tcx (transmit is counted at TC egress)", described()["eth0"])

	errWatch := errors.New("fake: the subscription ended")
	s.update(r, errWatch, nil, false)
	require.Equal(t, 4, host.reports())
	assert.ErrorIs(t, host.last().Err(), errWatch)
	assert.ErrorIs(t, host.last().Err(), eth1.err, "every fault, joined")

	eth1.state, eth1.err, eth1.fault = stateAttached, nil, faultNone
	s.update(r, nil, nil, false)
	require.Equal(t, 5, host.reports())
	assert.Equal(t, componentstatus.StatusOK, host.last().Status())
	assert.NoError(t, host.last().Err())

	errPods := errors.New("fake: pods are not followed")
	s.update(r, nil, errPods, false)
	require.Equal(t, 6, host.reports(), "pods not followed is a fault")
	assert.Equal(t, componentstatus.StatusRecoverableError, host.last().Status())
	assert.ErrorIs(t, host.last().Err(), errPods)
	s.update(r, nil, nil, false)
	require.Equal(t, 7, host.reports())
	assert.Equal(t, componentstatus.StatusOK, host.last().Status())
}
