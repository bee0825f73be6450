//go:build linux

package e2e

import (
	"fmt"
	"maps"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// portCountObject is the example program of docs/own-program.md, counting UDP
// datagrams by destination port.
const portCountObject = "../testdata/programs/port_count.o"

// programKey names a series of xdp.program.count.
type programKey struct{ iface, key string }

// programSink keeps the points of xdp.program.count, and the names of any
// other metric it receives.
type programSink struct {
	*otlpServer
	series map[programKey][]point
	other  []string
}

func startProgramSink(t *testing.T) *programSink {
	t.Helper()
	s := &programSink{series: map[programKey][]point{}}
	s.otlpServer = serveOTLP(t, s.record)
	return s
}

func (s *programSink) record(_ pcommon.Resource, m pmetric.Metric) {
	if m.Name() != "xdp.program.count" || m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() ||
		m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityDelta || m.Unit() != "{count}" {
		s.other = append(s.other, fmt.Sprintf("%s (%s, unit %q)", m.Name(), m.Type(), m.Unit()))
		return
	}
	dps := m.Sum().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		iface, _ := dp.Attributes().Get("network.interface.name")
		key, _ := dp.Attributes().Get("xdp.program.key")
		k := programKey{iface.AsString(), key.AsString()}
		s.series[k] = append(s.series[k], point{dp.StartTimestamp(), dp.Timestamp(), dp.IntValue()})
	}
}

// totals adds up the points of iface's series by key.
func (s *programSink) totals(iface string) map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := map[string]int64{}
	for k, pts := range s.series {
		if k.iface != iface {
			continue
		}
		for _, p := range pts {
			got[k.key] += p.value
		}
	}
	return got
}

// check returns what is wrong other than the totals: other metrics, and
// points that do not follow each other.
func (s *programSink) check(iface string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var problems []string
	if len(s.other) > 0 {
		problems = append(problems, fmt.Sprintf("unexpected metrics: %v", s.other))
	}
	for k, pts := range s.series {
		if k.iface != iface {
			continue
		}
		if len(pts) < 3 {
			problems = append(problems, fmt.Sprintf("%+v: only %d points", k, len(pts)))
		}
		problems = append(problems, contiguity(k, pts)...)
	}
	sort.Strings(problems)
	return problems
}

// programConfig is a collector configuration with the xdp receiver running
// the given program on iface, exporting over OTLP/gRPC to otlpAddr.
func programConfig(t *testing.T, iface, function, otlpAddr string) string {
	t.Helper()
	// A copy the collector accepts whoever owns the checkout: it refuses
	// an object that others than root and its user could change.
	object := xdptest.SafeObject(t, portCountObject)
	return fmt.Sprintf(`receivers:
  xdp/custom:
    interfaces: [%q]
    collection_interval: %s
    initial_delay: 0s
    program:
      object: %s
      function_name: %s
      map: packet_count
      keys:
        53: dns
        443: https

exporters:
  otlp_grpc:
    endpoint: %s
    tls:
      insecure: true
    sending_queue:
      batch:
        flush_timeout: 100ms

service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [xdp/custom]
      exporters: [otlp_grpc]
`, iface, collectionInterval, object, function, otlpAddr)
}

// TestProgramCountsReachOTLP runs the collector with docs/own-program.md's example
// program: UDP datagrams to several ports arrive over OTLP as exact,
// contiguous per-key sums of xdp.program.count under the configured key
// names, and nothing else; SIGTERM leaves nothing attached.
func TestProgramCountsReachOTLP(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	sink := startProgramSink(t)
	c := startCollector(t, programConfig(t, p.Host, "xdp_count", sink.addr))
	waitAttached(t, c, p.Host, 1)

	want := map[string]int64{}
	var frames [][]byte
	for i, port := range []uint16{53, 443, 53, 8080, 53, 443, 5353} {
		udp := xdptest.UDP(port, 16+i)
		frames = append(frames, xdptest.Cat(xdptest.Eth(xdptest.EtherIPv4), xdptest.IPv4(xdptest.ProtoUDP, nil, len(udp)), udp))
		want[map[uint16]string{53: "dns", 443: "https"}[port]+portName(port)]++
	}
	// Frames of other kinds, which the program does not count.
	for _, f := range xdptest.Frames() {
		if !strings.HasPrefix(f.Name, "ipv4/udp") && !strings.HasPrefix(f.Name, "vlan") {
			frames = append(frames, f.Data)
		}
	}
	p.Inject(t, frames...)

	eventually(t, c, countTimeout, "OTLP totals equal to the datagrams injected, by port", func() error {
		if got := sink.totals(p.Host); !maps.Equal(got, want) {
			return fmt.Errorf("got %v, want %v", got, want)
		}
		return nil
	})
	time.Sleep(5*collectionInterval + 500*time.Millisecond)
	if got := sink.totals(p.Host); !maps.Equal(got, want) {
		t.Errorf("OTLP totals changed after every datagram was counted: got %v, want %v", got, want)
	}
	for _, problem := range sink.check(p.Host) {
		t.Error(problem)
	}

	c.stop(t, p.Host)
}

// portName is how a key without a configured name is reported.
func portName(port uint16) string {
	if port == 53 || port == 443 {
		return ""
	}
	return fmt.Sprint(port)
}

// TestProgramNoSuchFunction checks that a program that is not in the
// object stops the collector at start with a message saying so, and
// leaves no XDP program behind.
func TestProgramNoSuchFunction(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	sink := startProgramSink(t)
	c := startCollector(t, programConfig(t, p.Host, "xdp_nope", sink.addr))
	if code := c.wait(t, exitTimeout); code == 0 {
		t.Errorf("the collector exited 0 with a missing function, want non-zero")
	}
	out := c.out.String()
	for _, w := range []string{`has no program "xdp_nope"`, "its programs: xdp_count (XDP)"} {
		if !strings.Contains(out, w) {
			t.Errorf("the collector's output does not say %q:\n%s", w, out)
		}
	}
	xdptest.RequireDetached(t, p.Host)
}
