package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// defaultMaxInterfaces holds a node's NICs and hundreds of container veths;
// its counters take 328 KiB of kernel memory per possible CPU.
const defaultMaxInterfaces = 512

// defaultCollectionInterval is shorter than the scraper default of 1m:
// packet rates are watched at a finer grain than host metrics.
const defaultCollectionInterval = 10 * time.Second

// NewFactory returns the factory of the xdp receiver.
func NewFactory() receiver.Factory {
	return receiver.NewFactory(metadata.Type, createDefaultConfig,
		receiver.WithMetrics(createMetrics, metadata.MetricsStability))
}

// createDefaultConfig has no interfaces: which ones to count is the user's
// choice, and Validate asks for them.
func createDefaultConfig() component.Config {
	cc := scraperhelper.NewDefaultControllerConfig()
	cc.CollectionInterval = defaultCollectionInterval
	return &Config{
		ControllerConfig:     cc,
		MetricsBuilderConfig: metadata.NewDefaultMetricsBuilderConfig(),
		AttachMode:           bpf.ModeAuto.String(),
		Directions:           []string{bpf.Receive.String()},
		MaxInterfaces:        defaultMaxInterfaces,
		Program:              configoptional.Default(ProgramConfig{Map: defaultProgramMap}),
		Pods:                 PodsConfig{Enabled: true, IPFamily: ipFamilyIPv4},
	}
}
