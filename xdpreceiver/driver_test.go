package xdpreceiver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// TestXDPNoticeBeforeAttaching: the modes that attach XDP say what the
// driver will do before anything is attached, with the interface and the
// mode; auto and tc, which count at TC, say nothing; a driver that cannot
// be described is logged at debug level only.
func TestXDPNoticeBeforeAttaching(t *testing.T) {
	i40e := bpf.Driver{Name: "i40e", MTU: 1500}
	for _, tc := range []struct {
		mode       bpf.Mode
		wantNotice bool
	}{
		{bpf.ModeAuto, false},
		{bpf.ModeTC, false},
		{bpf.ModeNative, true},
		{bpf.ModeGeneric, true},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			k := newFakeKernel()
			k.addLink("eth0")
			core, logs := observer.New(zap.InfoLevel)
			src := newBuiltinSource(func() (datapath[slotHandle], error) { return k.kernel().loadDatapath(bpf.Options{Capacity: 8}) },
				tc.mode, []bpf.Direction{bpf.Receive}, newDefaultEmitter(nil), zap.New(core))
			attachedBefore := -1
			src.describe = func(name string) (bpf.Driver, error) {
				k.mu.Lock()
				attachedBefore = len(k.dirs)
				k.mu.Unlock()
				return i40e, nil
			}
			require.NoError(t, src.start(func() pcommon.Timestamp { return 1 }))
			t.Cleanup(func() { _ = src.close() })
			a := src.newTap()
			_, err := a.attach("eth0", 1)
			require.NoError(t, err)
			t.Cleanup(func() { _ = a.release() })

			notices := logs.FilterMessageSnippet("attaching XDP").All()
			if !tc.wantNotice {
				assert.Empty(t, notices)
				assert.Equal(t, -1, attachedBefore, "the driver is not even described")
				return
			}
			require.Len(t, notices, 1)
			assert.Equal(t, 0, attachedBefore, "described before any direction is attached")
			fields := notices[0].ContextMap()
			assert.Equal(t, "eth0", fields["interface"])
			assert.Equal(t, tc.mode.String(), fields["mode"])
			assert.Equal(t, i40e.XDPEffect(tc.mode), fields["effect"])
		})
	}
}

// TestXDPNoticeUnknownDriver: a driver that cannot be described does not
// stop the attach, and is said at debug level; a user's program in auto
// mode, which tries native XDP first, is described as native.
func TestXDPNoticeUnknownDriver(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	xdpNotice(zap.New(core), func(string) (bpf.Driver, error) { return bpf.Driver{}, errors.New("no such device") }, "eth0", bpf.ModeNative)
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, zapcore.DebugLevel, logs.All()[0].Level)

	core, logs = observer.New(zapcore.InfoLevel)
	xdpNotice(zap.New(core), func(string) (bpf.Driver, error) { return bpf.Driver{Name: "ena"}, nil }, "eth0", bpf.ModeAuto)
	require.Equal(t, 1, logs.Len())
	assert.Equal(t, "native", logs.All()[0].ContextMap()["mode"])
	assert.Contains(t, logs.All()[0].ContextMap()["effect"], "driver ena")
}
