//go:build linux

package xdpreceiver

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestKernelPatternForeignProgram puts someone else's XDP program on one
// of two interfaces a pattern matches. In native mode the receiver reports
// the interface and the program, leaves both alone and counts the other
// interface; once the program goes, the next scrape attaches. In auto
// mode it counts beside the program, at TC.
func TestKernelPatternForeignProgram(t *testing.T) {
	xdptest.Privileged(t)
	ps := xdptest.NewPairs(t, 2)
	foreign, detach := xdptest.AttachForeignXDP(t, ps.Pairs[1].Host)

	cfg := testConfig(ps.Prefix + "*")
	cfg.AttachMode = "native"
	s, clk, host := startKernelScraper(t, cfg, "a foreign program on a pattern's interface does not fail start")
	attached := clk.reading(1)
	scrape := mustScrape(t, s)
	var want xdptest.Totals
	injectFrames(t, ps.Pairs[0], 1, &want, all)
	scrapeUntil(t, scrape, newLedger(), func(string) pcommon.Timestamp { return attached },
		map[at]*xdptest.Totals{}, map[at]*xdptest.Totals{rx(ps.Pairs[0].Host): &want})
	require.Equal(t, componentstatus.StatusRecoverableError, host.last().Status())
	assert.ErrorContains(t, host.last().Err(), `interface "`+ps.Pairs[1].Host+`" already has XDP program id `)
	var fe *bpf.ForeignProgramError
	require.ErrorAs(t, host.last().Err(), &fe)
	assert.Equal(t, foreign, fe.ProgramID)
	assert.Equal(t, foreign, xdptest.XDPProgramID(t, ps.Pairs[1].Host), "the other program is untouched")

	detach()
	scrape()
	require.True(t, xdptest.Attached(t, ps.Pairs[1].Host), "attached once the slot is free")
	assert.Equal(t, componentstatus.StatusOK, host.last().Status())

	require.NoError(t, s.shutdown(t.Context()))
	xdptest.RequireDetached(t, ps.Pairs[0].Host, ps.Pairs[1].Host)
}

// TestKernelAutoBesideForeignProgram: in auto mode, an interface whose XDP
// slot someone else's program holds is counted at TC, exactly, as every
// interface is in auto mode, and the status says where and why.
func TestKernelAutoBesideForeignProgram(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	foreign, _ := xdptest.AttachForeignXDP(t, p.Host)
	s, clk, host := startKernelScraper(t, testConfig(p.Host))
	attached := clk.reading(1)
	var want xdptest.Totals
	injectFrames(t, p, 2, &want, all)
	scrapeUntil(t, mustScrape(t, s), newLedger(), func(string) pcommon.Timestamp { return attached },
		map[at]*xdptest.Totals{}, map[at]*xdptest.Totals{rx(p.Host): &want})
	assert.Equal(t, foreign, xdptest.XDPProgramID(t, p.Host), "the other program is untouched")
	require.Equal(t, componentstatus.StatusOK, host.last().Status())
	d, ok := host.last().Attributes().Get("interfaces")
	require.True(t, ok)
	where, _ := d.Map().Get(p.Host)
	assert.Equal(t, "receive: tcx (auto: TC changes nothing in the driver)", where.Str())
}

// TestKernelExactNameAbsentAtStart: an exact name must exist at start,
// even alongside a pattern that matches nothing.
func TestKernelExactNameAbsentAtStart(t *testing.T) {
	xdptest.Privileged(t)
	ps := xdptest.NewPairs(t, 1)
	s := newScraper(testConfig(ps.Prefix+"*", "xdpnosuch1"), nopSettings(), linuxKernel(), time.Now)
	err := startListed(t, s, newStatusHost())
	require.ErrorContains(t, err, `xdp receiver attached none of "xdpnosuch1": interface "xdpnosuch1" not found`)
	xdptest.RequireDetached(t, ps.Pairs[0].Host)
	require.NoError(t, s.shutdown(t.Context()))
}

// TestKernelAltNameAndPattern: instance a names an interface by an
// alternative name, and instance b's pattern matches its name. They claim
// one interface, which exactly one of them counts, once: with a first, b
// skips it with a debug log naming a, and only a's program runs there and
// reports its packets; with b first, a fails to start, naming both.
func TestKernelAltNameAndPattern(t *testing.T) {
	xdptest.Privileged(t)
	p := xdptest.NewPair(t)
	alt := p.Host + "-alternative"
	l, err := netlink.LinkByName(p.Host)
	require.NoError(t, err)
	require.NoError(t, netlink.LinkAddAltName(l, alt))
	pattern := p.Host[:len(p.Host)-1] + "?" // this pair's host end: its peer is in a namespace of its own

	newB := func(logger *zap.Logger) *xdpScraper {
		set := nopSettingsID("b")
		if logger != nil {
			set.Logger = logger
		}
		s := newScraper(testConfig(pattern), set, linuxKernel(), time.Now)
		t.Cleanup(func() { _ = s.shutdown(t.Context()) })
		return s
	}

	t.Run("exact first", func(t *testing.T) {
		clk := &recClock{}
		a := newScraper(testConfig(alt), nopSettingsID("a"), linuxKernel(), clk.now)
		t.Cleanup(func() { _ = a.shutdown(t.Context()) })
		require.NoError(t, startListed(t, a, newStatusHost()))
		attached := clk.reading(1)
		core, logs := observer.New(zap.DebugLevel)
		b := newB(zap.New(core))
		hostB := newStatusHost()
		require.NoError(t, startListed(t, b, hostB))

		assert.Equal(t, 1, xdptest.Hooks(t, p.Host), "one program counts on the interface")
		assert.Equal(t, "skipped", stateOf(b, p.Host))
		skipped := logs.FilterMessageSnippet("counted already").FilterField(zap.String("interface", p.Host))
		require.Equal(t, 1, skipped.Len(), "b says why, once")
		assert.Equal(t, zap.DebugLevel, skipped.All()[0].Level)
		assert.Contains(t, skipped.All()[0].ContextMap()["error"], `already counted by receiver "xdp/a" as "`+alt+`"`)

		var want xdptest.Totals
		injectFrames(t, p, 1, &want, all)
		scrapeUntil(t, mustScrape(t, a), newLedger(), func(string) pcommon.Timestamp { return attached },
			map[at]*xdptest.Totals{}, map[at]*xdptest.Totals{rx(alt): &want})
		md, err := b.scrape(t.Context())
		require.NoError(t, err)
		assert.Zero(t, md.DataPointCount(), "b reports nothing of a's interface")
		assert.Empty(t, hostB.statuses(), "skipping another instance's interface is no fault")

		require.NoError(t, b.shutdown(t.Context()))
		require.NoError(t, a.shutdown(t.Context()))
		xdptest.RequireDetached(t, p.Host)
	})

	t.Run("pattern first", func(t *testing.T) {
		b := newB(nil)
		require.NoError(t, startListed(t, b, newStatusHost()))
		require.Equal(t, "attached", stateOf(b, p.Host))
		a := newScraper(testConfig(alt), nopSettingsID("a"), linuxKernel(), time.Now)
		err := startListed(t, a, newStatusHost())
		require.EqualError(t, err, fmt.Sprintf(`interface %q is already counted by receiver "xdp/b" as %q: an interface can belong `+
			`to one xdp receiver only; remove it from "xdp/b" or from "xdp/a"`, alt, p.Host))
		assert.Equal(t, 1, xdptest.Hooks(t, p.Host), "b's program only")
		require.NoError(t, a.shutdown(t.Context()))
		require.NoError(t, b.shutdown(t.Context()))
		xdptest.RequireDetached(t, p.Host)
	})
}
