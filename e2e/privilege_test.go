//go:build linux

package e2e

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// capabilities is the complete set of capabilities otelcol-xdp needs, and
// the only place the tests below take it from: the collector runs with
// exactly these as an unprivileged user, and without any one of them it must
// fail to start. deploy/otelcol-xdp.service grants the same set
// (TestDeployedCapabilities), and the Helm chart's DaemonSet the same as the
// unit (deploy/chart_test.go).
//
//	CAP_BPF       load the counter programs and read their maps
//	CAP_NET_ADMIN load programs of the XDP and TC types, and attach them
//
// That is on Linux 5.18 and later. Before 5.18 the program loads without
// frags support and then also needs CAP_PERFMON (the verifier refuses its
// variable-offset packet pointer arithmetic without it: "prohibited for
// !root"); these tests run on 5.18 or later.
const capabilities = "CAP_BPF CAP_NET_ADMIN"

// missingCapabilityError is what the collector's output must say when the
// capability is missing, on top of the hint every privilege error carries
// (privilegeHint): the documented errors of docs/troubleshooting.md.
var missingCapabilityError = map[string]string{
	"CAP_BPF":       "operation not permitted",
	"CAP_NET_ADMIN": "operation not permitted",
	// Before Linux 5.18, or if the program needs it again:
	// "CAP_PERFMON": "pointer arithmetic with it prohibited for !root",
}

// privilegeHint starts the advice of every privilege error; the message then
// names each capability of the set.
const privilegeHint = "run the collector as root, or grant it "

// identity is the user and group a collector runs as.
type identity struct{ uid, gid int }

// nobody is a user with no rights of its own; the unprivileged runs below
// are nobody's.
var nobody = identity{uid: 65534, gid: 65534}

// capabilityNumbers are the kernel's numbers of the capabilities that
// capabilities may name.
var capabilityNumbers = map[string]int{
	"CAP_NET_ADMIN":    unix.CAP_NET_ADMIN,
	"CAP_NET_RAW":      unix.CAP_NET_RAW,
	"CAP_IPC_LOCK":     unix.CAP_IPC_LOCK,
	"CAP_SYS_ADMIN":    unix.CAP_SYS_ADMIN,
	"CAP_SYS_RESOURCE": unix.CAP_SYS_RESOURCE,
	"CAP_PERFMON":      unix.CAP_PERFMON,
	"CAP_BPF":          unix.CAP_BPF,
}

func capabilitySet(t *testing.T) []string {
	t.Helper()
	set := strings.Fields(capabilities)
	for _, c := range set {
		if _, ok := capabilityNumbers[c]; !ok {
			t.Fatalf("capabilities names %s, which capabilityNumbers does not know: add it", c)
		}
	}
	return set
}

// capabilityMask is set as /proc/PID/status shows capability sets.
func capabilityMask(set []string) uint64 {
	var m uint64
	for _, c := range set {
		m |= 1 << capabilityNumbers[c]
	}
	return m
}

// setprivArgs runs the rest of the command line as id with exactly caps: in its inheritable, ambient (hence permitted and effective)
// and bounding sets, without supplementary groups and with no_new_privs, as
// the systemd unit does (AmbientCapabilities=, CapabilityBoundingSet=,
// NoNewPrivileges=yes). setpriv is part of util-linux.
func setprivArgs(t *testing.T, id identity, caps []string) []string {
	t.Helper()
	path, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatalf("setpriv (util-linux) is needed to run the collector as an unprivileged user: %v; apt-get install util-linux", err)
	}
	list := "-all"
	for _, c := range caps {
		list += ",+" + strings.ToLower(strings.TrimPrefix(c, "CAP_"))
	}
	return []string{path, "--reuid=" + strconv.Itoa(id.uid), "--regid=" + strconv.Itoa(id.gid), "--clear-groups", "--no-new-privs",
		"--inh-caps=" + list, "--ambient-caps=" + list, "--bounding-set=" + list, "--"}
}

// unprivilegedDir returns a directory that the unprivileged user can
// traverse and read, holding a copy of the collector binary: the checkout
// may well sit under a directory that user cannot enter.
func unprivilegedDir(t *testing.T) (dir, bin string) {
	t.Helper()
	src := binaryPath(t)
	dir, err := os.MkdirTemp("", "otelcol-xdp-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin = filepath.Join(dir, "otelcol-xdp")
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	// The copy has no file capabilities, whatever the original has: the
	// collector's capabilities come from setpriv only.
	return dir, bin
}

// startUnprivileged runs the collector as nobody with exactly caps.
func startUnprivileged(t *testing.T, caps []string, config string) *collector {
	t.Helper()
	dir, bin := unprivilegedDir(t)
	return startCollectorIn(t, config, bin, dir, setprivArgs(t, nobody, caps))
}

// procStatus returns the fields of /proc/PID/status.
func procStatus(t testing.TB, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fields
}

// checkCredentials checks that the running collector is id, in every uid
// and gid, with no supplementary group, no_new_privs, and exactly caps in
// every capability set.
func checkCredentials(t *testing.T, c *collector, id identity, caps []string) {
	t.Helper()
	st := procStatus(t, c.cmd.Process.Pid)
	if !strings.Contains(st["Name"], "otelcol") {
		t.Errorf("pid %d is %q, not the collector (setpriv should have exec'd it)", c.cmd.Process.Pid, st["Name"])
	}
	for k, want := range map[string]int{"Uid": id.uid, "Gid": id.gid} {
		for _, v := range strings.Fields(st[k]) {
			if v != strconv.Itoa(want) {
				t.Errorf("the collector's %s are %q, want %d in all four", k, st[k], want)
				break
			}
		}
	}
	if st["Groups"] != "" {
		t.Errorf("the collector has supplementary groups %q, want none", st["Groups"])
	}
	if st["NoNewPrivs"] != "1" {
		t.Errorf("the collector's NoNewPrivs is %q, want 1", st["NoNewPrivs"])
	}
	want := capabilityMask(caps)
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		got, err := strconv.ParseUint(st[k], 16, 64)
		if err != nil {
			t.Fatalf("%s in /proc/%d/status: %v", k, c.cmd.Process.Pid, err)
		}
		if got != want {
			t.Errorf("the collector's %s is %016x, want %016x (%s)", k, got, want, strings.Join(caps, " "))
		}
	}
}

// TestUnprivilegedCounts runs the collector as nobody with exactly the
// capabilities in capabilities, and checks that it counts a known mix of
// injected frames exactly, then stops cleanly on SIGTERM and detaches.
func TestUnprivilegedCounts(t *testing.T) {
	xdptest.Privileged(t)
	caps := capabilitySet(t)
	p := xdptest.NewPair(t)
	sink := startOTLPSink(t)
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := startUnprivileged(t, caps, configFor([]string{p.Host}, "auto", sink.addr, promAddr))
	waitAttached(t, c, p.Host, 2)
	checkCredentials(t, c, nobody, caps)

	injectExact(t, c, p, sink, 2)

	c.stop(t, p.Host)
}

// TestCapabilitiesMinimal checks that capabilities holds nothing
// superfluous: without any one of them, the unprivileged collector fails to
// start, with the documented error, and leaves no XDP program behind.
func TestCapabilitiesMinimal(t *testing.T) {
	xdptest.Privileged(t)
	caps := capabilitySet(t)
	for c := range missingCapabilityError {
		if !slices.Contains(caps, c) {
			t.Errorf("missingCapabilityError has an entry for %s, which capabilities does not hold: remove it", c)
		}
	}
	p := xdptest.NewPair(t)
	for _, dropped := range caps {
		t.Run("without_"+dropped, func(t *testing.T) {
			wantErr, ok := missingCapabilityError[dropped]
			if !ok {
				t.Fatalf("missingCapabilityError has no entry for %s: add the error the collector reports without it", dropped)
			}
			rest := slices.DeleteFunc(slices.Clone(caps), func(c string) bool { return c == dropped })
			// Nothing listens there: the collector must fail before exporting.
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
			c := startUnprivileged(t, rest, configFor([]string{p.Host}, "auto", addr, addr))

			code := c.wait(t, exitTimeout)
			out := c.out.String()
			if code == 0 {
				t.Errorf("without %s the collector exited 0, want a failure", dropped)
			}
			if !strings.Contains(out, wantErr) {
				t.Errorf("without %s the collector's output does not say %q", dropped, wantErr)
			}
			if !strings.Contains(out, privilegeHint) {
				t.Errorf("without %s the collector's output does not advise %q", dropped, privilegeHint)
			}
			for _, name := range caps {
				if !strings.Contains(out, name) {
					t.Errorf("without %s the collector's output does not name %s among the capabilities to grant", dropped, name)
				}
			}
			xdptest.RequireDetached(t, p.Host)
			if t.Failed() {
				t.Logf("collector output:\n%s", out)
			}
		})
	}
}

// TestDeployedCapabilities checks that the systemd unit grants exactly
// capabilities, in both its ambient and bounding sets, and that README's
// setcap line grants them too.
func TestDeployedCapabilities(t *testing.T) {
	caps := capabilitySet(t)
	unit, err := os.ReadFile("../deploy/otelcol-xdp.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"AmbientCapabilities", "CapabilityBoundingSet"} {
		var got []string
		n := 0
		for _, line := range strings.Split(string(unit), "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+"="); ok {
				got = append(got, strings.Fields(v)...)
				n++
			}
		}
		if n != 1 {
			t.Errorf("deploy/otelcol-xdp.service has %d %s= lines, want 1", n, key)
		}
		slices.Sort(got)
		want := slices.Sorted(slices.Values(caps))
		if !slices.Equal(got, want) {
			t.Errorf("deploy/otelcol-xdp.service: %s=%s, want %s", key, strings.Join(got, " "), strings.Join(want, " "))
		}
	}

	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	lower := make([]string, len(caps))
	for i, c := range caps {
		lower[i] = strings.ToLower(c)
	}
	setcap := "setcap " + strings.Join(lower, ",") + "+ep"
	if !strings.Contains(string(readme), setcap) {
		t.Errorf("README.md never says %q", setcap)
	}
}
