package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"context"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver"
)

// unsupportedReceiver is the receiver on systems other than Linux: the
// factory registers it and its configuration validates, so that one
// collector build can serve several platforms, but it cannot count
// anything there and says so at Start, as contrib's Linux-only
// components do.
type unsupportedReceiver struct {
	goos string
}

func newUnsupportedReceiver(goos string) receiver.Metrics {
	return &unsupportedReceiver{goos: goos}
}

func (r *unsupportedReceiver) Start(context.Context, component.Host) error {
	return fmt.Errorf("the xdp receiver needs Linux (5.9 or later): it counts packets with eBPF programs "+
		"in the Linux kernel, and this collector runs on %s; remove the xdp receiver from this "+
		"collector's pipelines on %s", r.goos, r.goos)
}

func (*unsupportedReceiver) Shutdown(context.Context) error { return nil }
