//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// startContained runs the collector as a container runs it under the Helm
// chart, on the path of kernels before 6.6: as nobody with exactly the
// capabilities in capabilities, as pid 1 of a PID namespace of its own
// (setpriv execs the collector there), in the test's network namespace
// (hostNetwork), attaching TC as clsact filters (OTELCOL_XDP_TC_LEGACY=1,
// which TCX would otherwise take on this kernel).
func startContained(t *testing.T, iface string) *collector {
	t.Helper()
	dir, bin := unprivilegedDir(t)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t)) // nothing listens: exports fail, counting goes on
	c := startCollectorIn(t, configFor([]string{iface}, "tc", addr, fmt.Sprintf("127.0.0.1:%d", freePort(t))), bin, dir,
		setprivArgs(t, nobody, capabilitySet(t)), func(cmd *exec.Cmd) {
			cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
			cmd.Env = append(os.Environ(), "OTELCOL_XDP_TC_LEGACY=1")
		})
	waitAttached(t, c, iface, 2)
	st := procStatus(t, c.cmd.Process.Pid)
	if ns := strings.Fields(st["NSpid"]); len(ns) != 2 || ns[1] != "1" {
		t.Fatalf("the collector's pids are %q, want pid 1 in a PID namespace of its own", st["NSpid"])
	}
	checkCredentials(t, c, nobody, capabilitySet(t))
	return c
}

// otelcolFilters counts the filters of otelcol-xdp on the interface, and
// returns their names.
func otelcolFilters(t *testing.T, iface string) []string {
	t.Helper()
	var names []string
	for _, f := range xdptest.ClsactFilters(t, iface) {
		if strings.HasPrefix(f.Name, "otelcol-xdp/") {
			names = append(names, f.Name)
		}
	}
	return names
}

// TestClsactStaleFiltersRemovedInContainers: on kernels before 6.6 the
// counter's clsact filters outlive a collector that is SIGKILLed. The next
// collector to start removes them, with CAP_BPF and CAP_NET_ADMIN only,
// although every collector is pid 1 of its own PID namespace; a live
// collector's filters stay.
func TestClsactStaleFiltersRemovedInContainers(t *testing.T) {
	xdptest.Privileged(t)
	dead, live, next := xdptest.NewPair(t), xdptest.NewPair(t), xdptest.NewPair(t)
	killed := startContained(t, dead.Host)
	alive := startContained(t, live.Host)
	killed.signal(t, syscall.SIGKILL)
	if code := killed.wait(t, exitTimeout); code != 128+int(syscall.SIGKILL) {
		t.Fatalf("after SIGKILL the collector exited with %d", code)
	}
	if fs := otelcolFilters(t, dead.Host); len(fs) != 2 {
		t.Fatalf("filters %v left by the killed collector, want its 2: clsact filters outlive their process", fs)
	}

	started := startContained(t, next.Host)
	if fs := otelcolFilters(t, dead.Host); len(fs) != 0 {
		t.Errorf("the killed collector's filters %v are left after the next one started", fs)
	}
	if fs := otelcolFilters(t, live.Host); len(fs) != 2 {
		t.Errorf("the live collector's filters are %v, want its 2", fs)
	}
	if a, b := otelcolFilters(t, live.Host), otelcolFilters(t, next.Host); len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		t.Errorf("two collectors name their filters alike: %q", a[0])
	}
	started.stop(t, next.Host)
	alive.stop(t, live.Host)
}
