package xdpreceiver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// newTickedReceiver builds the receiver the factory builds, on the fake
// kernel, with scrapes driven by the returned channel.
func newTickedReceiver(t *testing.T, k *fakeKernel, clk *fakeClock, sink *consumertest.MetricsSink, ifaces ...string) (r receiver.Metrics, ticks chan<- time.Time) {
	t.Helper()
	cfg := testConfig(ifaces...)
	cfg.InitialDelay = 0
	tick := make(chan time.Time)
	r, err := newReceiver(cfg, receivertest.NewNopSettings(metadata.Type), sink, k.kernel(), clk.now,
		scraperhelper.WithTickerChannel(tick))
	require.NoError(t, err)
	return r, tick
}

// TestReceiverThroughController runs the scraper under the scraperhelper
// controller, as the collector does: Start attaches, every tick scrapes,
// Shutdown detaches, a second Shutdown is harmless.
func TestReceiverThroughController(t *testing.T) {
	k, clk, sink := newFakeKernel(), newFakeClock(), new(consumertest.MetricsSink)
	r, tick := newTickedReceiver(t, k, clk, sink, "eth0")
	clk.at(0)
	require.NoError(t, r.Start(t.Context(), componenttest.NewNopHost()))
	waitForScrapes(t, sink, 1) // the controller scrapes once at start

	k.add(t, "eth0", ipv4TCP, 3, 100)
	clk.at(10)
	tick <- time.Now()
	all := waitForScrapes(t, sink, 2)
	assert.Equal(t, 2, all[1].DataPointCount())

	require.NoError(t, r.Shutdown(t.Context()))
	require.NoError(t, r.Shutdown(t.Context()))
	assert.Equal(t, 1, k.closes("eth0"))
}

// TestShutdownReportsTheLastCounts counts packets after the last
// collection: Shutdown collects them once more, before detaching, so the
// points still add up to everything counted.
func TestShutdownReportsTheLastCounts(t *testing.T) {
	k, clk, sink := newFakeKernel(), newFakeClock(), new(consumertest.MetricsSink)
	r, tick := newTickedReceiver(t, k, clk, sink, "eth0")
	attached := clk.at(0)
	require.NoError(t, r.Start(t.Context(), componenttest.NewNopHost()))
	waitForScrapes(t, sink, 1)
	k.add(t, "eth0", ipv4TCP, 3, 100)
	clk.at(10)
	tick <- time.Now()
	waitForScrapes(t, sink, 2)

	k.add(t, "eth0", ipv4TCP, 2, 50) // after the last collection
	clk.at(15)
	require.NoError(t, r.Shutdown(t.Context()))
	all := sink.AllMetrics()
	require.Len(t, all, 3, "Shutdown hands on one last collection")
	l := newLedger()
	for _, md := range all {
		l.add(t, md, func(string) pcommon.Timestamp { return attached })
	}
	assert.Equal(t, int64(5), l.sum[seriesKey{"xdp.packets", "eth0", "receive", "ipv4", "tcp"}])
	assert.Equal(t, int64(3*100+2*50), l.sum[seriesKey{"xdp.bytes", "eth0", "receive", "ipv4", "tcp"}])
	assert.Equal(t, 1, k.closes("eth0"))
}

// TestReceiverStartFailure: a Start that fails detaches what it attached,
// and the Shutdown the collector then calls closes nothing twice and hands
// on no collection.
func TestReceiverStartFailure(t *testing.T) {
	k, clk, sink := newFakeKernel(), newFakeClock(), new(consumertest.MetricsSink)
	k.attachErrs["eth1"] = errors.New(`interface "eth1" not found`)
	r, _ := newTickedReceiver(t, k, clk, sink, "eth0", "eth1")
	require.ErrorContains(t, r.Start(t.Context(), componenttest.NewNopHost()), `attached none of "eth0", "eth1"`)
	assert.Equal(t, 1, k.closes("eth0"))
	// The collector shuts down whatever it tried to start.
	require.NoError(t, r.Shutdown(context.Background()))
	assert.Equal(t, 1, k.closes("eth0"), "closed once")
	assert.Empty(t, sink.AllMetrics(), "no scrape ran")
}

// countingReceiver is a receiver whose Shutdown counts its calls and
// fails with err.
type countingReceiver struct {
	component.StartFunc
	shutdowns int
	err       error
}

func (r *countingReceiver) Shutdown(context.Context) error {
	r.shutdowns++
	return r.err
}

// TestOnceShutdown: however often Shutdown is called, the receiver it
// wraps shuts down once, and every call returns what that one returned.
func TestOnceShutdown(t *testing.T) {
	fail := errors.New("fake shutdown failure")
	inner := &countingReceiver{err: fail}
	var r receiver.Metrics = &onceShutdown{Metrics: inner}
	require.NoError(t, r.Start(t.Context(), componenttest.NewNopHost()))
	for range 3 {
		assert.ErrorIs(t, r.Shutdown(t.Context()), fail)
	}
	assert.Equal(t, 1, inner.shutdowns)
}
