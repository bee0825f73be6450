//go:build linux

package xdpreceiver

import (
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// growingCounter is a counter whose every class grows by step on each read:
// all 20 classes active, and as much traffic per interval as step says.
type growingCounter struct {
	totals bpf.Totals
	step   uint64
}

func (g *growingCounter) Read(t *bpf.Totals) error {
	for i := range g.totals {
		g.totals[i].Packets += g.step
		g.totals[i].Bytes += g.step * 1500
	}
	*t = g.totals
	return nil
}

func (g *growingCounter) Close() error { return nil }

func (g *growingCounter) Ifindex() int { return 0 }

// BenchmarkScrape measures one scrape, read to pdata, for 1 and 16
// interfaces. The step sub-benchmarks show that the cost does not depend
// on the traffic: a scrape costs the same whether each class grew by one
// packet or by a billion since the previous one.
func BenchmarkScrape(b *testing.B) {
	for _, ifaces := range []int{1, 16} {
		for _, step := range []uint64{1, 1e9} {
			b.Run(fmt.Sprintf("interfaces=%d/step=%g", ifaces, float64(step)), func(b *testing.B) {
				names := make([]string, ifaces)
				for i := range names {
					names[i] = fmt.Sprintf("eth%d", i)
				}
				attach := attachFunc(func(string, bpf.Mode) (counterReader, error) { return &growingCounter{step: step}, nil })
				set := receivertest.NewNopSettings(component.MustNewType("xdp"))
				// The interfaces exist, with growingCounter's index.
				links := newFakeKernel()
				for _, name := range names {
					links.links[name] = 0
				}
				s := newScraper(testConfig(names...), set, attach, links, time.Now)
				if err := s.start(b.Context(), nil); err != nil {
					b.Fatal(err)
				}
				defer s.shutdown(b.Context())
				// The first scrape makes every series active; measure the
				// steady state that follows.
				if _, err := s.scrape(b.Context()); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					md, err := s.scrape(b.Context())
					if err != nil {
						b.Fatal(err)
					}
					if got, want := md.DataPointCount(), ifaces*bpf.NumClasses*2; got != want {
						b.Fatalf("%d points, want %d", got, want)
					}
				}
			})
		}
	}
}
