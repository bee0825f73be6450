//go:build linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// The names the prometheus exporter gives the receiver's metrics: dots
// become underscores and monotonic sums get _total; the {packet} unit adds no
// suffix and "By" would add _bytes, which xdp_bytes already ends with.
const (
	promPackets = "xdp_packets_total"
	promBytes   = "xdp_bytes_total"
)

// Deadlines of the waits below: generous against a loaded CI machine, yet
// each wait ends by itself.
const (
	attachTimeout = 30 * time.Second
	countTimeout  = 30 * time.Second
	exitTimeout   = 20 * time.Second
)

// TestConfigsValidate validates every collector configuration shipped in
// testdata/ with the built binary: a typo there fails here, not in `make run`.
func TestConfigsValidate(t *testing.T) {
	bin := binaryPath(t)
	testdata := filepath.Join("..", "testdata")
	configs, err := filepath.Glob(filepath.Join(testdata, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"default.yaml", "otlp.yaml", "prometheus.yaml"} {
		if !contains(configs, filepath.Join(testdata, want)) {
			t.Errorf("testdata/%s is missing", want)
		}
	}
	for _, cfg := range configs {
		t.Run(filepath.Base(cfg), func(t *testing.T) {
			out, err := exec.Command(bin, "validate", "--config="+cfg).CombinedOutput()
			if err != nil {
				t.Fatalf("%s validate --config=%s: %v\n%s", binary, cfg, err, out)
			}
		})
	}
}

// TestInvalidConfigRejected checks that validate really validates: an
// interface listed twice is an error that names it.
func TestInvalidConfigRejected(t *testing.T) {
	bin := binaryPath(t)
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	config := configFor([]string{"lo", "lo"}, "generic", "127.0.0.1:4317", "127.0.0.1:9464")
	if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "validate", "--config="+cfg).CombinedOutput()
	if err == nil {
		t.Fatalf("validate accepted an interface listed twice:\n%s", out)
	}
	if !strings.Contains(string(out), `"lo"`) {
		t.Errorf("validate's message does not name the interface:\n%s", out)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// waitAttached waits until hooks programs count on iface (one per
// direction), which the collector attaches while it starts.
func waitAttached(t testing.TB, c *collector, iface string, hooks int) {
	t.Helper()
	eventually(t, c, attachTimeout, fmt.Sprintf("%d programs attached to %s", hooks, iface), func() error {
		if n := xdptest.Hooks(t, iface); n != hooks {
			return fmt.Errorf("%d programs count on %s, want %d", n, iface, hooks)
		}
		return nil
	})
}

// TestCountsReachOTLPAndPrometheus injects a known mix of frames of every
// class and checks that the collector reports exactly them, per class, as
// contiguous delta points over OTLP and as cumulative counters to
// Prometheus, both ways; then that SIGTERM stops it cleanly and detaches
// everything.
func TestCountsReachOTLPAndPrometheus(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	sink := startOTLPSink(t)
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := startCollector(t, configFor([]string{p.Host}, "auto", sink.addr, promAddr))
	waitAttached(t, c, p.Host, 2)

	// Frame i of the catalog goes out 1+i%3 times: classes get different
	// counts, and sizes differ within a class.
	want := injectExact(t, c, p, sink, 3)

	// The prometheus exporter turns the same deltas into cumulative counters.
	var lastBody string
	eventually(t, c, countTimeout, "Prometheus counters equal to what was injected", func() error {
		samples, body, err := scrapePrometheus(promAddr)
		lastBody = body
		if err != nil {
			return err
		}
		got := counts{}
		for _, s := range samples {
			if s.labels["network_interface_name"] != p.Host {
				continue
			}
			k := classKey{s.labels["network_io_direction"], s.labels["network_type"], s.labels["network_transport"]}
			switch s.name {
			case promPackets:
				got.add(k, int64(s.value), 0)
			case promBytes:
				got.add(k, 0, int64(s.value))
			}
		}
		if d := want.diff(got); d != "" {
			return fmt.Errorf("%s", d)
		}
		return nil
	})
	if t.Failed() {
		t.Logf("last /metrics:\n%s", lastBody)
	}

	c.stop(t, p.Host)
}

// TestSIGKILLDetaches checks that the programs go away with the process
// even when it has no chance to clean up: XDP (forced generic here) and TCX
// programs are held by bpf_links that die with the process's file
// descriptors.
func TestSIGKILLDetaches(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	sink := startOTLPSink(t)
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := startCollector(t, configFor([]string{p.Host}, "generic", sink.addr, promAddr))
	waitAttached(t, c, p.Host, 2)

	c.signal(t, syscall.SIGKILL)
	if code := c.wait(t, exitTimeout); code != 128+int(syscall.SIGKILL) {
		t.Errorf("after SIGKILL the collector exited with %d, want %d", code, 128+int(syscall.SIGKILL))
	}
	xdptest.RequireDetached(t, p.Host)
}

// injectExact injects frame i of xdptest.Frames() 1+i%spread times from p's
// peer, and sends it 1+(i+1)%spread times out of p.Host, and checks that
// the OTLP points of p.Host add up, per direction and class, to exactly
// what went in and out, that nothing more comes in the next intervals, and
// that the points of each series follow each other. It returns what it
// counted.
func injectExact(t *testing.T, c *collector, p *xdptest.Pair, sink *otlpSink, spread int) counts {
	t.Helper()
	want := counts{}
	var in, out [][]byte
	for i, f := range xdptest.Frames() {
		for n := range max(i%spread, (i+1)%spread) + 1 {
			if n <= i%spread {
				in = append(in, f.Data)
				want.add(classKey{"receive", f.Class.Network.String(), f.Class.Transport.String()}, 1, int64(len(f.Data)))
			}
			if n <= (i+1)%spread {
				out = append(out, f.Data)
				want.add(classKey{"transmit", f.Class.Network.String(), f.Class.Transport.String()}, 1, int64(len(f.Data)))
			}
		}
	}
	if len(want) < 16 {
		t.Fatalf("xdptest.Frames() covers only %d classes both ways: %v", len(want), want)
	}
	p.Inject(t, in...)
	p.Send(t, out...)
	t.Logf("injected %d frames and sent %d, of %d classes each way, on %s", len(in), len(out), len(want)/2, p.Host)

	eventually(t, c, countTimeout, "OTLP totals equal to what was injected", func() error {
		if d := want.diff(sink.totals(p.Host)); d != "" {
			return fmt.Errorf("%s", d)
		}
		return nil
	})
	// Nothing more may come: let a few more collections go by and check the
	// totals again.
	time.Sleep(5*collectionInterval + 500*time.Millisecond)
	if d := want.diff(sink.totals(p.Host)); d != "" {
		t.Errorf("OTLP totals changed after the injected frames were all counted: %s", d)
	}
	for _, problem := range sink.check(p.Host) {
		t.Error(problem)
	}
	return want
}

// TestMissingInterface checks that a configuration naming an interface that
// does not exist stops the collector with a message naming it, and leaves
// no XDP program behind, not even on the interface listed before it.
func TestMissingInterface(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	const missing = "xdpe2enosuch0"
	if _, err := netlink.LinkByName(missing); err == nil {
		t.Fatalf("interface %s exists on this host", missing)
	}
	sink := startOTLPSink(t)
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	c := startCollector(t, configFor([]string{p.Host, missing}, "auto", sink.addr, promAddr))

	code := c.wait(t, exitTimeout)
	if code == 0 {
		t.Errorf("the collector exited 0 with a missing interface, want non-zero")
	}
	out := c.out.String()
	if !strings.Contains(out, missing) {
		t.Errorf("the collector's output does not name %q", missing)
	}

	links, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, l := range links {
		name := l.Attrs().Name
		if name != p.Host && xdptest.IsTestInterface(name) {
			continue // another test's, which may well have XDP now
		}
		checked++
		if x := l.Attrs().Xdp; x != nil && x.Attached {
			t.Errorf("interface %s has XDP program id %d attached after the collector failed", name, x.ProgId)
		}
	}
	if checked < 2 {
		t.Errorf("checked only %d interfaces for XDP programs", checked)
	}
	if t.Failed() {
		t.Logf("collector output:\n%s", out)
	}
}
