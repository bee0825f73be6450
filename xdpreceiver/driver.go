package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"go.uber.org/zap"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// xdpNotice logs, before XDP is attached to an interface, what its driver
// will do for it (bpf.Driver.XDPEffect): attaching XDP to a NIC resets or
// reconfigures it on almost every driver, which the user who asked for XDP
// should see named, with the interface, rather than find in the kernel
// log. Auto mode never gets here for the built-in counter, which counts at
// TC; a user's program in auto mode tries native XDP first.
func xdpNotice(logger *zap.Logger, describe func(string) (bpf.Driver, error), name string, mode bpf.Mode) {
	if describe == nil {
		return
	}
	d, err := describe(name)
	if err != nil {
		logger.Debug("cannot tell what attaching XDP does to the interface's driver", zap.String("interface", name), zap.Error(err))
		return
	}
	if mode == bpf.ModeAuto {
		mode = bpf.ModeNative
	}
	logger.Info("attaching XDP, which TC would not need: use attach_mode auto or tc for the built-in counter to avoid it",
		zap.String("interface", name), zap.Stringer("mode", mode), zap.String("effect", d.XDPEffect(mode)))
}
