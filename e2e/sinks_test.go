//go:build linux

package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"google.golang.org/grpc"
	_ "google.golang.org/grpc/encoding/gzip" // the otlp_grpc exporter compresses with gzip by default
)

// point is one delta data point of a series.
type point struct {
	start, time pcommon.Timestamp
	value       int64
}

// seriesKey names a series of xdp.packets or xdp.bytes.
type seriesKey struct {
	metric, iface, direction, netType, transport string
}

// classKey is what the test counts per class, each way:
// network.io.direction, network.type/network.transport.
type classKey struct{ direction, netType, transport string }

func (k classKey) String() string { return k.direction + " " + k.netType + "/" + k.transport }

// counts is packets and bytes per direction and class.
type counts map[classKey]struct{ packets, bytes int64 }

func (c counts) add(k classKey, packets, bytes int64) {
	v := c[k]
	v.packets += packets
	v.bytes += bytes
	c[k] = v
}

// diff describes how got differs from want, or returns "" when they are the
// same; classes counted zero are the same as classes not counted.
func (c counts) diff(got counts) string {
	want := c
	keys := map[classKey]bool{}
	for k, v := range want {
		if v.packets != 0 || v.bytes != 0 {
			keys[k] = true
		}
	}
	for k, v := range got {
		if v.packets != 0 || v.bytes != 0 {
			keys[k] = true
		}
	}
	var out []string
	for k := range keys {
		w, g := want[k], got[k]
		if w != g {
			out = append(out, fmt.Sprintf("%s: got %d packets %d bytes, want %d packets %d bytes", k, g.packets, g.bytes, w.packets, w.bytes))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

// otlpServer is an OTLP/gRPC metrics server on loopback that hands every
// metric it receives, with its resource, to record, under mu: the real protocol, decoded with
// pdata. The sinks below keep what they need of it.
type otlpServer struct {
	pmetricotlp.UnimplementedGRPCServer
	addr   string
	mu     sync.Mutex
	record func(pcommon.Resource, pmetric.Metric)
}

func serveOTLP(t *testing.T, record func(pcommon.Resource, pmetric.Metric)) *otlpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &otlpServer{addr: l.Addr().String(), record: record}
	srv := grpc.NewServer()
	pmetricotlp.RegisterGRPCServer(srv, s)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return s
}

func (s *otlpServer) Export(_ context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rms := req.Metrics().ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				s.record(rms.At(i).Resource(), ms.At(k))
			}
		}
	}
	return pmetricotlp.NewExportResponse(), nil
}

// otlpSink keeps every data point of xdp.packets and xdp.bytes it receives.
type otlpSink struct {
	*otlpServer
	series map[seriesKey][]point
	other  []string // metric names other than the two expected
}

func startOTLPSink(t *testing.T) *otlpSink {
	t.Helper()
	s := &otlpSink{series: map[seriesKey][]point{}}
	s.otlpServer = serveOTLP(t, s.record)
	return s
}

func (s *otlpSink) record(_ pcommon.Resource, m pmetric.Metric) {
	if m.Name() != "xdp.packets" && m.Name() != "xdp.bytes" {
		s.other = append(s.other, m.Name())
		return
	}
	if m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() ||
		m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityDelta {
		s.other = append(s.other, fmt.Sprintf("%s (%s, monotonic %v, %s)", m.Name(), m.Type(),
			m.Type() == pmetric.MetricTypeSum && m.Sum().IsMonotonic(), m.Sum().AggregationTemporality()))
		return
	}
	dps := m.Sum().DataPoints()
	for i := 0; i < dps.Len(); i++ {
		dp := dps.At(i)
		attr := func(name string) string {
			v, ok := dp.Attributes().Get(name)
			if !ok {
				return "<missing>"
			}
			return v.AsString()
		}
		key := seriesKey{m.Name(), attr("network.interface.name"), attr("network.io.direction"),
			attr("network.type"), attr("network.transport")}
		s.series[key] = append(s.series[key], point{dp.StartTimestamp(), dp.Timestamp(), dp.IntValue()})
	}
}

// totals adds up the delta points of iface's series per direction and
// class.
func (s *otlpSink) totals(iface string) counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := counts{}
	for k, pts := range s.series {
		if k.iface != iface {
			continue
		}
		for _, p := range pts {
			switch k.metric {
			case "xdp.packets":
				c.add(classKey{k.direction, k.netType, k.transport}, p.value, 0)
			case "xdp.bytes":
				c.add(classKey{k.direction, k.netType, k.transport}, 0, p.value)
			}
		}
	}
	return c
}

// check returns what is wrong with the series of iface other than their
// totals: a direction that is neither receive nor transmit, a point that does not start where
// the previous one of its series ended, or metrics that should not be there.
func (s *otlpSink) check(iface string) []string {
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
		if k.direction != "receive" && k.direction != "transmit" {
			problems = append(problems, fmt.Sprintf("%+v: network.io.direction %q, want receive or transmit", k, k.direction))
		}
		// Series stay active once they appear, so the collections after the
		// injection each add a point: a series with fewer points than that
		// would leave contiguity unchecked.
		if len(pts) < 3 {
			problems = append(problems, fmt.Sprintf("%+v: only %d points", k, len(pts)))
		}
		problems = append(problems, contiguity(k, pts)...)
	}
	sort.Strings(problems)
	return problems
}

// promSample is one line of the Prometheus text format.
type promSample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrapePrometheus fetches and parses the exporter's /metrics.
func scrapePrometheus(addr string) ([]promSample, string, error) {
	client := http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, string(body), fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	var samples []promSample
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s, err := parsePromLine(line)
		if err != nil {
			return nil, string(body), err
		}
		samples = append(samples, s)
	}
	return samples, string(body), sc.Err()
}

// parsePromLine parses `name{k="v",...} value [timestamp]`.
func parsePromLine(line string) (promSample, error) {
	s := promSample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	if i < 0 {
		return s, fmt.Errorf("no value in %q", line)
	}
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for {
			line = strings.TrimLeft(line, ", ")
			if strings.HasPrefix(line, "}") {
				line = line[1:]
				break
			}
			eq := strings.Index(line, `="`)
			if eq < 0 {
				return s, fmt.Errorf("bad labels in %q", line)
			}
			name := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			j := 0
			for ; j < len(line) && line[j] != '"'; j++ {
				if line[j] == '\\' && j+1 < len(line) {
					j++
					switch line[j] {
					case 'n':
						val.WriteByte('\n')
					default:
						val.WriteByte(line[j])
					}
					continue
				}
				val.WriteByte(line[j])
			}
			if j >= len(line) {
				return s, fmt.Errorf("unterminated label value in %q", line)
			}
			s.labels[name] = val.String()
			line = line[j+1:]
		}
	}
	fields := strings.Fields(line)
	if len(fields) < 1 {
		return s, fmt.Errorf("no value in %q", line)
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return s, fmt.Errorf("bad value in %q: %w", line, err)
	}
	s.value = v
	return s, nil
}

// contiguity returns what is wrong with the points of the series k: in time
// order, each must cover a non-empty interval that starts where the
// previous one ended.
func contiguity(k any, pts []point) []string {
	var problems []string
	sorted := append([]point(nil), pts...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].time < sorted[j].time })
	for i, p := range sorted {
		if p.start >= p.time {
			problems = append(problems, fmt.Sprintf("%+v: point %d starts at %v, not before its time %v", k, i, p.start, p.time))
		}
		if i > 0 && p.start != sorted[i-1].time {
			problems = append(problems, fmt.Sprintf("%+v: point %d starts at %v, the previous one ended at %v (gap or overlap)",
				k, i, p.start.AsTime().Format(time.RFC3339Nano), sorted[i-1].time.AsTime().Format(time.RFC3339Nano)))
		}
	}
	return problems
}
