package xdpreceiver

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// TestCounterTrackerGroups sums the classes that a disabled attribute no
// longer tells apart into one series, which starts at attachment when any
// of its classes first counts, and goes on from the previous read.
func TestCounterTrackerGroups(t *testing.T) {
	g := newClassGroups(false, true) // network.type disabled
	assert.Equal(t, 5, g.n, "one series per transport")
	d := newCounterTracker(1, []bpf.Direction{bpf.Receive, bpf.Transmit}, g)
	var c bpf.Counts
	c.Dir[bpf.Receive][ipv4TCP.Index()] = bpf.Counter{Packets: 1, Bytes: 100}
	out, _ := d.advance(&c, 2, nil)
	tcp := g.of[ipv4TCP.Index()]
	assert.Equal(t, []counterPoint{{dir: bpf.Receive, group: tcp, start: 1, packets: 1, bytes: 100}}, out)

	c.Dir[bpf.Receive][bpf.Class{Network: bpf.IPv6, Transport: bpf.TCP}.Index()] = bpf.Counter{Packets: 2, Bytes: 200}
	c.Dir[bpf.Transmit][arp.Index()] = bpf.Counter{Packets: 3, Bytes: 180}
	out, _ = d.advance(&c, 3, out[:0])
	assert.Equal(t, []counterPoint{
		{dir: bpf.Receive, group: tcp, start: 2, packets: 2, bytes: 200},
		{dir: bpf.Transmit, group: g.of[arp.Index()], start: 1, packets: 3, bytes: 180},
	}, out, "IPv6 TCP joins the TCP series; transmit's first series starts at attachment")
	assert.Equal(t, 2, d.activeSeries())
}

// BenchmarkKeyedTracker advances a tracker of n keys that all join at
// once, then stay: the cost per key stays flat as n grows, where inserting
// each new key into a sorted slice grew with n.
func BenchmarkKeyedTracker(b *testing.B) {
	for _, n := range []int{100, 1000, 10000, 100000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			cur := make(map[uint32]uint64, n)
			for i := range n {
				cur[uint32(i*7919)] = 1
			}
			var out []keyedPoint
			b.ReportAllocs()
			for b.Loop() {
				d := newKeyedTracker(1)
				out, _ = d.advance(cur, 2, out[:0])
				out, _ = d.advance(cur, 3, out[:0])
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/key")
		})
	}
}
