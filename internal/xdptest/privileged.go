//go:build linux

package xdptest

import (
	"os"
	"testing"
)

// SkipEnv names the variable that lets a developer without root skip the
// privileged tests knowingly. CI never sets it, so there they fail instead.
const SkipEnv = "XDP_SKIP_PRIVILEGED"

// Privileged fails t unless the process is root: a privileged test that
// skipped silently would be a test that does not exist.
func Privileged(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv(SkipEnv) == "1" {
		t.Skipf("%s=1: skipping a test that needs root", SkipEnv)
	}
	t.Fatalf("this test needs root: it loads BPF programs and creates network namespaces; "+
		"run `sudo make test`, or set %s=1 to skip it knowingly", SkipEnv)
}
