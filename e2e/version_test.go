//go:build linux

package e2e

import (
	"bytes"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// makeVar returns the value of a variable of the Makefile (`make
// print-NAME`), which names the version and every artifact: the tests take
// them from there rather than repeat the rules.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command("make", "--no-print-directory", "-s", "-C", "..", "print-"+name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make print-%s: %v\n%s", name, err, stderr.String())
	}
	v := strings.TrimSpace(string(out))
	if v == "" {
		t.Fatalf("make print-%s: empty", name)
	}
	return v
}

// versionForm is what deploy/version.sh prints: X.Y.Z, or a pre-release
// with build metadata.
var versionForm = regexp.MustCompile(`^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?(\+[0-9A-Za-z.]+)?$`)

// TestVersion checks that the collector `make build` built carries the
// version that the Makefile computes from git, as --version prints it: the
// version is generated into the builder configuration, and a commit
// rebuilds.
func TestVersion(t *testing.T) {
	want := makeVar(t, "VERSION")
	if !versionForm.MatchString(want) {
		t.Errorf("the Makefile's VERSION %q is not a version", want)
	}
	out, err := exec.Command(binaryPath(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", binary, err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "otelcol-xdp version "+want {
		t.Errorf("%s --version prints %q, want %q", binary, got, "otelcol-xdp version "+want)
	}
}
