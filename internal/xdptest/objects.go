//go:build linux

package xdptest

import (
	"os"
	"path/filepath"
	"testing"
)

// SafeObject copies the program object at path into a directory of the
// test's own and returns the copy's absolute path. The copy, and every
// directory on its way, is writable by the test's user only, as the
// loader demands (bpf.UnsafeObjectError): the checkout's own file may be
// group-writable (a umask of 002), or owned by another user than the one
// who runs the tests (sudo go test in someone's clone), and then the
// loader rightly refuses it.
func SafeObject(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// WriteFile's mode passes through the umask: 0644 may have lost
	// bits, never gained them; set it exactly.
	if err := os.Chmod(dst, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}
