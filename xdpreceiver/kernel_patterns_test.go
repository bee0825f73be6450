//go:build linux

package xdpreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestKernelPatternForeignProgram has another program on one of two
// interfaces a pattern matches: it is left alone and reported, naming the
// interface and the program, and the other interface is counted. Once the
// program goes, the next scrape attaches.
func TestKernelPatternForeignProgram(t *testing.T) {
	xdptest.Privileged(t)
	ps := xdptest.NewPairs(t, 2)
	foreign, err := bpf.Attach(ps.Pairs[1].Host, bpf.ModeGeneric)
	require.NoError(t, err)
	t.Cleanup(func() { _ = foreign.Close() })
	foreignID := xdptest.XDPProgramID(t, ps.Pairs[1].Host)

	s, clk, host := startKernelScraper(t, testConfig(ps.Prefix+"*"), "a foreign program on a pattern's interface does not fail start")
	attached := clk.reading(0)
	scrape := mustScrape(t, s)
	var want bpf.Totals
	injectFrames(t, ps.Pairs[0], 1, &want, all)
	scrapeUntil(t, scrape, newLedger(), func(string) pcommon.Timestamp { return attached },
		map[string]*bpf.Totals{}, map[string]*bpf.Totals{ps.Pairs[0].Host: &want})
	require.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError}, host.statuses())
	assert.ErrorContains(t, host.last().Err(), `interface "`+ps.Pairs[1].Host+`" already has XDP program id `)
	var fe *bpf.ForeignProgramError
	require.ErrorAs(t, host.last().Err(), &fe)
	assert.Equal(t, foreignID, fe.ProgramID)
	assert.Equal(t, foreignID, xdptest.XDPProgramID(t, ps.Pairs[1].Host), "the other program is untouched")

	require.NoError(t, foreign.Close())
	xdptest.RequireNoXDP(t, ps.Pairs[1].Host)
	scrape()
	require.NotZero(t, xdptest.XDPProgramID(t, ps.Pairs[1].Host), "attached once the slot is free")
	assert.Equal(t, []componentstatus.Status{componentstatus.StatusRecoverableError, componentstatus.StatusOK}, host.statuses())

	require.NoError(t, s.shutdown(t.Context()))
	xdptest.RequireNoXDP(t, ps.Pairs[0].Host, ps.Pairs[1].Host)
}

// TestKernelExactNameAbsentAtStart: an exact name must exist at start,
// even alongside a pattern that matches nothing.
func TestKernelExactNameAbsentAtStart(t *testing.T) {
	xdptest.Privileged(t)
	ps := xdptest.NewPairs(t, 1)
	s := newScraper(testConfig(ps.Prefix+"*", "xdpnosuch1"), nopSettings(), bpfKernel{}, netlinkSource{}, time.Now)
	err := s.start(t.Context(), newStatusHost())
	require.ErrorContains(t, err, `xdp receiver attached none of "xdpnosuch1": interface "xdpnosuch1" not found`)
	xdptest.RequireNoXDP(t, ps.Pairs[0].Host)
	require.NoError(t, s.shutdown(t.Context()))
}
