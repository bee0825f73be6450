package xdpreceiver

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/pods"
)

// activeClasses is how many classes a busy interface counts in: IPv4 and
// IPv6 with TCP, UDP, ICMP and other, ARP, and a few others.
const activeClasses = 11

// growingDatapath is a datapath whose every interface's active classes
// grow by step on each read, in both directions: as much traffic per
// interval as step says.
type growingDatapath struct {
	slots bpf.Snapshot
	step  uint64
	links map[string]int // the interfaces' indices, which claims tell apart
}

func (g *growingDatapath) Open(name string) (slotHandle, error) {
	g.slots = append(g.slots, bpf.Counts{})
	return growingInterface{slot: uint32(len(g.slots) - 1), index: g.links[name]}, nil
}

// Read hands out the slots themselves, as a snapshot: no copy.
func (g *growingDatapath) Read(s *bpf.Snapshot) error {
	for i := 1; i < len(g.slots); i++ { // slot 0 counts packets that met no slot: none
		for d := range bpf.NumDirections {
			for class := range activeClasses {
				c := &g.slots[i].Dir[d][class]
				c.Packets += g.step
				c.Bytes += g.step * 1500
			}
		}
	}
	*s = g.slots
	return nil
}

func (g *growingDatapath) ReadSlot(slot uint32) (bpf.Counts, error) { return g.slots[slot], nil }

func (*growingDatapath) Close() error { return nil }

type growingInterface struct {
	slot  uint32
	index int
}

func (i growingInterface) Ifindex() int { return i.index }
func (i growingInterface) Slot() uint32 { return i.slot }
func (growingInterface) Attach(bpf.Direction, bpf.Mode) (bpf.Placement, error) {
	return bpf.Placement{Hook: bpf.HookTCX, Reason: "benchmark"}, nil
}
func (growingInterface) Attached() (bool, error) { return true, nil }
func (growingInterface) Detach() error           { return nil }
func (growingInterface) Release() error          { return nil }

// BenchmarkScrape measures one scrape, from the datapath's counts to pdata,
// at 1, 16, 128 and 512 interfaces, each counting in 11 classes both ways:
// the receiver's own cost, without the kernel's read (BenchmarkKernelScale
// has that). The step sub-benchmarks show that the cost does not depend on
// the traffic: a scrape costs the same whether each class grew by one
// packet or by a billion since the previous one.
func BenchmarkScrape(b *testing.B) {
	for _, ifaces := range []int{1, 16, 128, 512} {
		for _, step := range []uint64{1, 1e9} {
			b.Run(fmt.Sprintf("interfaces=%d/step=%g", ifaces, float64(step)), func(b *testing.B) {
				names := make([]string, ifaces)
				k := newFakeKernel()
				for i := range names {
					names[i] = fmt.Sprintf("veth%d", i)
					k.links[names[i]] = 100 + i
				}
				dp := &growingDatapath{step: step, slots: make(bpf.Snapshot, 1), links: k.links}
				kern := k.kernel()
				kern.loadDatapath = func(bpf.Options) (datapath[slotHandle], error) { return dp, nil }
				cfg := testConfig(names...)
				cfg.Directions = []string{"receive", "transmit"}
				s := newScraper(cfg, nopSettings(), kern, time.Now)
				if err := startListed(b, s, nil); err != nil {
					b.Fatal(err)
				}
				defer s.shutdown(b.Context())
				// The first scrape makes every series active; measure the
				// steady state that follows.
				if _, err := s.scrape(b.Context()); err != nil {
					b.Fatal(err)
				}
				want := ifaces * activeClasses * bpf.NumDirections * 2
				measureScrapes(b, s, want)
			})
		}
	}
}

// BenchmarkScrapePods is BenchmarkScrape's busy interfaces, 500 of them,
// scraped by two receivers side by side: one where they belong to no pod,
// one where each belongs to a pod of its own. What a resource per pod and
// the pod's view of direction cost a scrape is pods/node: the pod
// receiver's scrapes' CPU time over the node receiver's. The CPU time is
// the process's, which counts the garbage collector's work on other
// threads and not the time the machine's other tenants take.
//
// Each op scrapes in blocks of 5 scrapes of one receiver: node, pods,
// pods, node, so that the machine's drift falls on both alike, and the
// garbage one block leaves to the next one's collector is little of what
// each block collects of its own. pods/node is the median of
// the ops' ratios; node-cpu-ms and pods-cpu-ms, the medians of a scrape's
// CPU time; node-allocs and pods-allocs, a scrape's allocations.
func BenchmarkScrapePods(b *testing.B) {
	const ifaces, block = 500, 5
	want := ifaces * activeClasses * bpf.NumDirections * 2
	scrapers := [2]*xdpScraper{podsScraper(b, ifaces, false), podsScraper(b, ifaces, true)}
	var nodeMS, podsMS, ratios []float64
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var cpu [2]time.Duration
		for _, k := range []int{0, 1, 1, 0} {
			t0 := processCPU()
			for range block {
				scrapeWant(b, scrapers[k], want)
			}
			cpu[k] += processCPU() - t0
		}
		nodeMS = append(nodeMS, float64(cpu[0].Nanoseconds())/(2*block*1e6))
		podsMS = append(podsMS, float64(cpu[1].Nanoseconds())/(2*block*1e6))
		ratios = append(ratios, float64(cpu[1])/float64(cpu[0]))
	}
	b.StopTimer()
	b.ReportMetric(median(nodeMS), "node-cpu-ms")
	b.ReportMetric(median(podsMS), "pods-cpu-ms")
	b.ReportMetric(median(ratios), "pods/node")
	for k, unit := range []string{"node-allocs", "pods-allocs"} {
		b.ReportMetric(testing.AllocsPerRun(3, func() { scrapeWant(b, scrapers[k], want) }), unit)
	}
}

func median(v []float64) float64 {
	slices.Sort(v)
	return v[len(v)/2]
}

// podsScraper starts a receiver of n busy interfaces, each of a pod of
// its own with withPods, after one scrape: every series is active.
func podsScraper(b *testing.B, n int, withPods bool) *xdpScraper {
	// Interfaces are claimed in the whole process: each receiver's names
	// and indices are its own, and as long as the other's.
	prefix, base := "nveth", 100
	if withPods {
		prefix, base = "pveth", 100+n
	}
	names := make([]string, n)
	k := newFakeKernel()
	p := &fakePods{}
	for i := range names {
		names[i] = fmt.Sprintf("%s%d", prefix, i)
		k.links[names[i]] = base + i
		if withPods {
			p.initial = append(p.initial, pods.Event{Index: base + i, IPs: []netip.Addr{netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})}})
		}
	}
	dp := &growingDatapath{step: 1, slots: make(bpf.Snapshot, 1), links: k.links}
	kern := k.kernel()
	kern.loadDatapath = func(bpf.Options) (datapath[slotHandle], error) { return dp, nil }
	kern.watchPods = p.watch
	cfg := testConfig(names...)
	cfg.Directions = []string{"receive", "transmit"}
	s := newScraper(cfg, nopSettings(), kern, time.Now)
	if err := startListed(b, s, nil); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.shutdown(context.Background()) })
	for !podsApplied(s, len(p.initial)) {
		time.Sleep(time.Millisecond)
	}
	if _, err := s.scrape(b.Context()); err != nil {
		b.Fatal(err)
	}
	return s
}

// scrapeWant scrapes s, which must give want points.
func scrapeWant(b *testing.B, s *xdpScraper, want int) {
	md, err := s.scrape(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	if got := md.DataPointCount(); got != want {
		b.Fatalf("%d points, want %d", got, want)
	}
}

func podsApplied(s *xdpScraper, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.life.pods) == n
}

// BenchmarkPdataFloor builds the points of BenchmarkScrape straight with
// pdata, as any receiver must, without the receiver: the floor that a
// scrape's cost is to be held against. Each point is what pdata needs at
// least: the point, its attribute slice, four string values and its int
// value.
func BenchmarkPdataFloor(b *testing.B) {
	for _, ifaces := range []int{1, 16, 128, 512} {
		b.Run(fmt.Sprintf("interfaces=%d", ifaces), func(b *testing.B) {
			names := make([]string, ifaces)
			for i := range names {
				names[i] = fmt.Sprintf("veth%d", i)
			}
			want := ifaces * activeClasses * bpf.NumDirections * 2
			b.ReportAllocs()
			for b.Loop() {
				md := pmetric.NewMetrics()
				ms := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics()
				for _, metric := range []string{metricPackets, metricBytes} {
					m := ms.AppendEmpty()
					m.SetName(metric)
					sum := m.SetEmptySum()
					sum.SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
					sum.SetIsMonotonic(true)
					dps := sum.DataPoints()
					dps.EnsureCapacity(want / 2)
					for _, name := range names {
						for _, dir := range directionAttrs {
							for class := range activeClasses {
								dp := dps.AppendEmpty()
								dp.SetStartTimestamp(1)
								dp.SetTimestamp(2)
								dp.SetIntValue(int64(class))
								a := dp.Attributes()
								a.EnsureCapacity(4)
								a.PutStr(keyInterface, name)
								a.PutStr(keyDirection, dir)
								a.PutStr(keyNetwork, "ipv4")
								a.PutStr(keyTransport, "tcp")
							}
						}
					}
				}
				if md.DataPointCount() != want {
					b.Fatalf("%d points, want %d", md.DataPointCount(), want)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(want), "ns/point")
		})
	}
}

// measureScrapes measures scrapes of s in their steady state, each of
// want points, also per point.
func measureScrapes(b *testing.B, s *xdpScraper, want int) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		md, err := s.scrape(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		if got := md.DataPointCount(); got != want {
			b.Fatalf("%d points, want %d", got, want)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(want), "ns/point")
}
