//go:build linux

// Package e2e tests the built distribution, dist/otelcol-xdp, as a user runs
// it: a separate process with a configuration file, attaching to a veth pair
// of the test's own and exporting to an OTLP server and a Prometheus endpoint
// that the test reads. Run `make build` first; `make test` does.
package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// binary is the distribution built by `make build`, relative to this
// package's directory (go test runs tests there).
const binary = "../dist/otelcol-xdp"

// collectionInterval is the receiver's interval in the generated configs.
const collectionInterval = 200 * time.Millisecond

func binaryPath(t testing.TB) string {
	t.Helper()
	p, err := filepath.Abs(binary)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the collector binary %s is missing (%v): run `make build` first (`make test` builds it)", p, err)
	}
	return p
}

// lockedBuffer collects a process's output, written by os/exec's copying
// goroutines while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// collector is a running dist/otelcol-xdp.
type collector struct {
	cmd    *exec.Cmd
	out    *lockedBuffer
	done   chan struct{}
	err    error // the result of Wait, once done is closed
	config string
}

// startCollector runs the distribution with config written to a file. The
// process is killed when the test ends, and its output logged if it failed.
func startCollector(t testing.TB, config string) *collector {
	t.Helper()
	return startCollectorIn(t, config, binaryPath(t), t.TempDir(), nil)
}

// startCollectorIn runs bin with config written to dir/config.yaml (mode
// 0644, for a collector that runs as another user), through wrapper when it
// is not empty: a command, such as setpriv, that execs the rest of its
// arguments, so that the process started is the collector itself. setup,
// if any, prepares the command before it starts (environment, namespaces).
func startCollectorIn(t testing.TB, config, bin, dir string, wrapper []string, setup ...func(*exec.Cmd)) *collector {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &collector{out: &lockedBuffer{}, done: make(chan struct{}), config: config}
	args := append(append([]string(nil), wrapper...), bin, "--config="+path)
	c.cmd = exec.Command(args[0], args[1:]...)
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	for _, f := range setup {
		f(c.cmd)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = c.cmd.Process.Kill()
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				t.Errorf("collector pid %d did not die after SIGKILL", c.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("collector configuration:\n%s\ncollector output:\n%s", c.config, c.out.String())
		}
	})
	return c
}

// wait waits up to timeout for the process to exit and returns its exit code.
func (c *collector) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("collector pid %d still running %v later", c.cmd.Process.Pid, timeout)
	}
	var exit *exec.ExitError
	switch {
	case c.err == nil:
		return 0
	case errors.As(c.err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	default:
		t.Fatalf("waiting for the collector: %v", c.err)
		return -1
	}
}

func (c *collector) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *collector) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("sending %v to the collector: %v", sig, err)
	}
}

// stop sends the collector SIGTERM, wants it to exit 0, and nothing of it
// left on ifaces.
func (c *collector) stop(t testing.TB, ifaces ...string) {
	t.Helper()
	c.signal(t, syscall.SIGTERM)
	if code := c.wait(t, exitTimeout); code != 0 {
		t.Errorf("after SIGTERM the collector exited with %d, want 0", code)
	}
	xdptest.RequireDetached(t, ifaces...)
}

// eventually polls cond every 50ms until it returns nil or timeout passes,
// and fails t with cond's last error then. It stops early if c exits.
func eventually(t testing.TB, c *collector, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if c != nil && c.exited() {
			t.Fatalf("%s: the collector exited (%v) first; last state: %v", what, c.err, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// configFor returns a collector configuration: the xdp receiver on ifaces,
// both directions, exporting to the OTLP/gRPC server at otlpAddr and serving Prometheus on
// promAddr. The collector's own telemetry is off, so that it opens no port of
// its own.
func configFor(ifaces []string, mode, otlpAddr, promAddr string) string {
	return fmt.Sprintf(`receivers:
  xdp:
    interfaces: %s
    directions: [receive, transmit]
    attach_mode: %s
    collection_interval: %s
    initial_delay: 0s

processors:
  memory_limiter:
    check_interval: 1s
    limit_percentage: 80
    spike_limit_percentage: 20
  batch:
    timeout: 100ms

exporters:
  otlp_grpc:
    endpoint: %s
    tls:
      insecure: true
  prometheus:
    endpoint: %s

service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [xdp]
      processors: [memory_limiter, batch]
      exporters: [otlp_grpc, prometheus]
`, flowList(ifaces), mode, collectionInterval, otlpAddr, promAddr)
}

// flowList is ifaces as a YAML flow sequence, each quoted.
func flowList(ifaces []string) string {
	quoted := make([]string, len(ifaces))
	for i, s := range ifaces {
		quoted[i] = fmt.Sprintf("%q", s)
	}
	return "[" + strings.Join(quoted, ", ") + "]"
}
