//go:build linux

package xdptest

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestSafeObject: the copy has the original's bytes, whatever its mode, and
// neither it nor any directory on its way is writable by anyone but its
// owner, the test's user, or sticky (as /tmp is).
func TestSafeObject(t *testing.T) {
	src := filepath.Join(t.TempDir(), "prog.o")
	want := []byte("\x7fELF not really")
	if err := os.WriteFile(src, want, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(src, 0o666); err != nil {
		t.Fatal(err)
	}
	dst := SafeObject(t, src)
	if !filepath.IsAbs(dst) || filepath.Base(dst) != "prog.o" {
		t.Errorf("copy at %q, want an absolute path to prog.o", dst)
	}
	if got, err := os.ReadFile(dst); err != nil || !bytes.Equal(got, want) {
		t.Errorf("copy reads %q, %v; want %q", got, err, want)
	}
	for p := dst; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if int(st.Uid) != os.Geteuid() && st.Uid != 0 {
			t.Errorf("%s is owned by uid %d", p, st.Uid)
		}
		if fi.Mode().Perm()&0o022 != 0 && fi.Mode()&os.ModeSticky == 0 {
			t.Errorf("%s has mode %v: writable by others", p, fi.Mode())
		}
		if p == "/" {
			break
		}
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode() != 0o644 {
		t.Errorf("copy has mode %v, %v; want 0644", fi.Mode(), err)
	}
}
