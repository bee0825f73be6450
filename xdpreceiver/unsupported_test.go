package xdpreceiver

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
)

// TestUnsupportedPlatformStart is what Start says on a system other than
// Linux, where the factory builds this receiver: one error that names the
// need and the system, and nothing to clean up after it.
func TestUnsupportedPlatformStart(t *testing.T) {
	for _, goos := range []string{"darwin", "windows"} {
		r := newUnsupportedReceiver(goos)
		err := r.Start(t.Context(), componenttest.NewNopHost())
		require.EqualError(t, err, "the xdp receiver needs Linux (5.9 or later): it counts packets with eBPF programs "+
			"in the Linux kernel, and this collector runs on "+goos+"; remove the xdp receiver from this "+
			"collector's pipelines on "+goos)
		require.NoError(t, r.Shutdown(t.Context()))
	}
}
