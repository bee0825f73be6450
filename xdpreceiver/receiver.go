package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"context"
	"sync"
	"time"

	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/scraper"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// newReceiver is the receiver as the factory builds it on k: the scraper
// under scraperhelper's controller, which collects every interval.
func newReceiver[H slotHandle, P programHandle](cfg *Config, set receiver.Settings, next consumer.Metrics, k kernel[H, P], now func() time.Time,
	opts ...scraperhelper.ControllerOption,
) (receiver.Metrics, error) {
	r, _, err := newReceiverScraper(cfg, set, next, k, now, opts...)
	return r, err
}

// newReceiverScraper is newReceiver that also returns its scraper, for
// tests that wait on what the scraper knows (a pod learnt, say) while the
// controller drives it.
func newReceiverScraper[H slotHandle, P programHandle](cfg *Config, set receiver.Settings, next consumer.Metrics, k kernel[H, P], now func() time.Time,
	opts ...scraperhelper.ControllerOption,
) (receiver.Metrics, *xdpScraper, error) {
	s := newScraper(cfg, set, k, now)
	s.next = next
	sc, err := scraper.NewMetrics(s.scrape, scraper.WithStart(s.start), scraper.WithShutdown(s.shutdown))
	if err != nil {
		return nil, nil, err
	}
	opts = append([]scraperhelper.ControllerOption{scraperhelper.AddMetricsScraper(metadata.Type, sc)}, opts...)
	rcv, err := scraperhelper.NewMetricsController(&cfg.ControllerConfig, set, next, opts...)
	if err != nil {
		return nil, nil, err
	}
	return &onceShutdown{Metrics: rcv}, s, nil
}

// onceShutdown makes Shutdown safe to call twice: the scraper controller
// panics on a second Shutdown (it closes a channel).
type onceShutdown struct {
	receiver.Metrics
	once sync.Once
	err  error
}

func (r *onceShutdown) Shutdown(ctx context.Context) error {
	r.once.Do(func() { r.err = r.Metrics.Shutdown(ctx) })
	return r.err
}
