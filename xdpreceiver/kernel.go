package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import "github.com/otelcol-xdp/otelcol-xdp/bpf"

// counterReader is what the scraper needs of an attached counter. It is an
// interface so that the scraper's logic can be tested without privileges.
type counterReader interface {
	Read(*bpf.Totals) error
	Close() error
}

// attachFunc attaches a counter to the interface named iface.
type attachFunc func(iface string, mode bpf.Mode) (counterReader, error)

// attachKernel attaches the real XDP counter. Its errors already name the
// interface and say what to do, so they are returned as they are.
func attachKernel(iface string, mode bpf.Mode) (counterReader, error) {
	a, err := bpf.Attach(iface, mode)
	if err != nil {
		return nil, err
	}
	return a, nil
}
