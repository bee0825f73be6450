package xdpreceiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, component.StabilityLevelDevelopment, f.MetricsStability())
	r, err := f.CreateMetrics(t.Context(), receivertest.NewNopSettings(metadata.Type), testConfig("eth0"), consumertest.NewNop())
	require.NoError(t, err)
	require.NoError(t, r.Shutdown(t.Context()), "shutdown without start")
}

// waitForScrapes waits until sink holds n collections, and returns them all.
func waitForScrapes(t *testing.T, sink *consumertest.MetricsSink, n int) []pmetric.Metrics {
	t.Helper()
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) >= n }, 5*time.Second, time.Millisecond)
	return sink.AllMetrics()
}
