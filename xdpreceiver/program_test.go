package xdpreceiver

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scrapererror"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// programConfig is testConfig with a program whose keys 0 and 1 are named.
func programConfig(ifaces ...string) *Config {
	cfg := testConfig(ifaces...)
	cfg.Program = configoptional.Some(ProgramConfig{
		Object: "/fake/verdicts.o", FunctionName: "xdp_verdict", Map: "packet_count",
		Keys: map[string]string{"0": "allowed", "1": "dropped"},
	})
	return cfg
}

func newProgramScraper(t *testing.T, k *fakeKernel, clk *fakeClock, id component.ID, ifaces ...string) *xdpScraper {
	t.Helper()
	set := receivertest.NewNopSettings(component.MustNewType("xdp"))
	set.ID = id
	s := newScraper(programConfig(ifaces...), set, k.kernel(), clk.now)
	t.Cleanup(func() { _ = s.shutdown(t.Context()) })
	return s
}

// programKey identifies a series of xdp.program.count.
type programKey struct{ iface, key string }

// newProgramLedger is a ledger of xdp.program.count, which fails on any
// other metric.
func newProgramLedger() *ledger[programKey] {
	return &ledger[programKey]{
		key: func(m pmetric.Metric, dp pmetric.NumberDataPoint) (programKey, string, error) {
			if m.Name() != "xdp.program.count" {
				return programKey{}, "", fmt.Errorf("an instance with a program reported %s", m.Name())
			}
			iface, _ := dp.Attributes().Get("network.interface.name")
			key, ok := dp.Attributes().Get("xdp.program.key")
			if !ok {
				return programKey{}, "", errors.New("a point without xdp.program.key")
			}
			return programKey{iface.Str(), key.Str()}, iface.Str(), nil
		},
		last: map[programKey]pcommon.Timestamp{},
		sum:  map[programKey]int64{},
	}
}

// TestProgramScrapeSequence walks a program's keys through the cases a
// series meets: its first scrape, a key appearing later, zeros, a value
// going backwards (the program cleared it) and a key deleted from the map,
// with configured key names and numbered ones; each scrape against a golden
// file.
func TestProgramScrapeSequence(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	s := newProgramScraper(t, k, clk, component.MustNewID("xdp"), "eth0", "eth1")
	attached := clk.at(0)
	require.NoError(t, startListed(t, s, newStatusHost()))
	assert.Equal(t, []bpf.CustomSpec{{Object: "/fake/verdicts.o", Function: "xdp_verdict", Map: "packet_count"}}, k.checks,
		"the program is checked once, whatever the number of interfaces")
	first := func(string) pcommon.Timestamp { return attached }
	l := newProgramLedger()
	scrape := func(sec int, golden string) {
		t.Helper()
		clk.at(sec)
		md, err := s.scrape(t.Context())
		require.NoError(t, err)
		requireGolden(t, golden, md)
		l.add(t, md, first)
	}

	// Nothing counted; an array's keys are there with zeros: no series.
	k.setKey(t, "eth0", 7, 0)
	scrape(10, "program0_nothing")

	// eth0 counts under a named key and a numbered one.
	k.setKey(t, "eth0", 0, 5)
	k.setKey(t, "eth0", 53, 2)
	scrape(20, "program1_first")

	// eth0's key 53 stays still (a zero); eth1's "dropped" appears and
	// starts at attachment.
	k.addKey(t, "eth0", 0, 3)
	k.setKey(t, "eth1", 1, 4)
	scrape(30, "program2_appear_and_zeros")

	// eth0's "allowed" goes backwards: a new series from the new value,
	// starting at the previous scrape; key 53 is deleted from the map:
	// back to zero, which is a reset to 0.
	k.setKey(t, "eth0", 0, 1)
	k.deleteKey("eth0", 53)
	k.addKey(t, "eth1", 1, 1)
	scrape(40, "program3_backwards")

	// Key 53 counts again: its series goes on from zero.
	k.setKey(t, "eth0", 53, 6)
	clk.at(50)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	l.add(t, md, first)

	assert.Equal(t, map[programKey]int64{
		{"eth0", "allowed"}: 8 + 1,
		{"eth0", "53"}:      2 + 0 + 0 + 6,
		{"eth1", "dropped"}: 5,
	}, l.sum)
}

// TestProgramInterfaceGone has an exactly named interface disappear under
// a program: its last delta is read from the frozen map, the scrape is
// partial with one lost point per active key, and when the interface
// returns the program is attached afresh and its series start again there.
func TestProgramInterfaceGone(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	s := newProgramScraper(t, k, clk, component.MustNewID("xdp"), "eth0", "eth1")
	host := newStatusHost()
	attached := clk.at(0)
	require.NoError(t, startListed(t, s, host))
	l := newProgramLedger()
	k.setKey(t, "eth1", 0, 3)
	k.setKey(t, "eth1", 9, 1)
	clk.at(10)
	md, err := s.scrape(t.Context())
	require.NoError(t, err)
	l.add(t, md, func(string) pcommon.Timestamp { return attached })

	k.addKey(t, "eth1", 0, 2) // counted before the interface went
	clk.at(15)
	k.delLink("eth1")
	require.Eventually(t, func() bool { return k.closes("eth1") == 1 }, 5*time.Second, time.Millisecond)
	clk.at(20)
	md, err = s.scrape(t.Context())
	require.ErrorContains(t, err, `interface "eth1" is gone`)
	var partial scrapererror.PartialScrapeError
	require.ErrorAs(t, err, &partial)
	assert.Equal(t, 2, partial.Failed, "two keys, one metric")
	l.add(t, md, nil)
	assert.Equal(t, int64(5), l.sum[programKey{"eth1", "allowed"}], "the last delta, read when the interface went")
	assert.Equal(t, int64(1), l.sum[programKey{"eth1", "9"}])

	reattached := clk.at(30)
	k.addLink("eth1")
	require.Eventually(t, func() bool { return k.attachCount() == 3 }, 5*time.Second, time.Millisecond)
	k.setKey(t, "eth1", 0, 4) // the new attachment's map, from zero
	clk.at(40)
	md, err = s.scrape(t.Context())
	require.NoError(t, err)
	for key := range l.last {
		if key.iface == "eth1" {
			delete(l.last, key)
		}
	}
	l.add(t, md, func(string) pcommon.Timestamp { return reattached })
	assert.Equal(t, int64(5+4), l.sum[programKey{"eth1", "allowed"}])
	assert.Equal(t, int64(1), l.sum[programKey{"eth1", "9"}], "key 9 goes on as a zero from the new attachment")
	assert.Equal(t, 2, md.DataPointCount(), "eth1's two keys; eth0 counted nothing")
}

// TestProgramCheckFailsStart fails the program's check: Start fails with
// its error, attaches nothing and holds no claim.
func TestProgramCheckFailsStart(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	k.checkErr = errors.New(`XDP program object "/fake/verdicts.o" has no program "xdp_verdict"; its programs: xdp_count (XDP)`)
	s := newProgramScraper(t, k, clk, component.MustNewID("xdp"), "eth0", "veth*")
	err := startListed(t, s, newStatusHost())
	require.EqualError(t, err, `xdp receiver attached none of "eth0", "veth*": `+k.checkErr.Error())
	assert.Empty(t, k.attaches)
	require.NoError(t, s.shutdown(t.Context()))

	other := newTestScraper(t, k, clk, component.MustNewID("xdp"), "eth0")
	require.NoError(t, startListed(t, other, newStatusHost()), "the failed instance claimed nothing")
}

// TestProgramAndCounterInstances runs a program on eth0 and the built-in
// counter on eth1: each reports its own metrics only.
func TestProgramAndCounterInstances(t *testing.T) {
	k, clk := newFakeKernel(), newFakeClock()
	prog := newProgramScraper(t, k, clk, component.MustNewIDWithName("xdp", "custom"), "eth0")
	builtin := newTestScraper(t, k, clk, component.MustNewIDWithName("xdp", "builtin"), "eth1")
	clk.at(0)
	require.NoError(t, startListed(t, prog, newStatusHost()))
	require.NoError(t, startListed(t, builtin, newStatusHost()))
	k.setKey(t, "eth0", 1, 2)
	k.add(t, "eth1", ipv4TCP, 1, 100)
	clk.at(10)
	md, err := prog.scrape(t.Context())
	require.NoError(t, err)
	requireGolden(t, "program_only_program_metric", md)
	md, err = builtin.scrape(t.Context())
	require.NoError(t, err)
	forEachPoint(md, func(m pmetric.Metric, _ pmetric.NumberDataPoint) {
		assert.NotEqual(t, "xdp.program.count", m.Name())
	})
	assert.Equal(t, 2, md.DataPointCount())
}

func TestKeyedTrackerOrderAndClamp(t *testing.T) {
	d := newKeyedTracker(1)
	out, restarted := d.advance(map[uint32]uint64{9: 1, 3: 1, 1<<32 - 1: 1 << 63, 0: 0}, 2, nil)
	assert.Zero(t, restarted)
	assert.Equal(t, []keyedPoint{{3, 1, 1}, {9, 1, 1}, {1<<32 - 1, 1, 1<<63 - 1}}, out, "key order, first points from attachment, clamped")
	out, restarted = d.advance(map[uint32]uint64{5: 2, 3: 1}, 3, out[:0])
	assert.Equal(t, 2, restarted, "9 and the last key, gone from the map")
	assert.Equal(t, []keyedPoint{{3, 2, 0}, {5, 1, 2}, {9, 2, 0}, {1<<32 - 1, 2, 0}}, out)
	d.reattached(4)
	out, restarted = d.advance(map[uint32]uint64{5: 1}, 5, out[:0])
	assert.Zero(t, restarted, "a new attachment counts from zero")
	assert.Equal(t, []keyedPoint{{3, 4, 0}, {5, 4, 1}, {9, 4, 0}, {1<<32 - 1, 4, 0}}, out)
}
