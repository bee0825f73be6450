//go:build linux

package xdptest

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// helperEnv makes TestHelperProcessPrivileged call Privileged.
const helperEnv = "XDPTEST_PRIVILEGED_HELPER"

// TestPrivileged: as root, Privileged lets the test run; without root it
// fails the test, saying how to run it, unless SkipEnv=1 asks to skip it
// knowingly. The test binary runs again as nobody for the latter two.
func TestPrivileged(t *testing.T) {
	Privileged(t) // as root: returns, or this test would stop here

	// A copy that nobody may run: the go tool's build directory is root's
	// alone.
	dir, err := os.MkdirTemp("", "xdptest-privileged-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "xdptest.test")
	copyFile(t, os.Args[0], bin)

	run := func(env ...string) (string, error) {
		t.Helper()
		cmd := exec.Command(bin, "-test.run=^TestHelperProcessPrivileged$", "-test.count=1", "-test.v")
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, SkipEnv+"=") {
				cmd.Env = append(cmd.Env, e)
			}
		}
		cmd.Env = append(cmd.Env, append(env, helperEnv+"=1")...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	out, err := run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || !strings.Contains(out, "--- FAIL: TestHelperProcessPrivileged") ||
		!strings.Contains(out, "this test needs root") || strings.Contains(out, "past Privileged") {
		t.Errorf("without root: %v; want the test to fail, saying it needs root:\n%s", err, out)
	}
	out, err = run(SkipEnv + "=1")
	if err != nil || !strings.Contains(out, "--- SKIP: TestHelperProcessPrivileged") ||
		!strings.Contains(out, SkipEnv+"=1: skipping a test that needs root") || strings.Contains(out, "past Privileged") {
		t.Errorf("without root, %s=1: %v; want the test skipped, saying why:\n%s", SkipEnv, err, out)
	}
}

// TestHelperProcessPrivileged is the test that TestPrivileged runs as
// nobody; run on its own it has nothing to do.
func TestHelperProcessPrivileged(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	Privileged(t)
	t.Log("past Privileged")
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
