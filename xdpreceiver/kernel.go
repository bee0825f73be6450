package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// counterReader is what the scraper needs of an attached counter. It is an
// interface so that the scraper's logic can be tested without privileges.
type counterReader interface {
	Read(*bpf.Totals) error
	Close() error
}

// attachFunc attaches a counter to the interface named iface.
type attachFunc func(iface string, mode bpf.Mode) (counterReader, error)

// errDetached marks a read error after which the attachment can never count
// again. The scraper then closes it and attaches afresh to whatever
// interface carries the name.
var errDetached = errors.New("XDP counter is no longer attached")

// attachKernel attaches the real XDP counter. Its errors already name the
// interface and say what to do, so they are returned as they are.
func attachKernel(iface string, mode bpf.Mode) (counterReader, error) {
	a, err := bpf.Attach(iface, mode)
	if err != nil {
		return nil, err
	}
	return kernelCounter{a}, nil
}

type kernelCounter struct {
	*bpf.Attachment
}

// Read fails once the counter cannot count any more. Its map outlives both
// the interface and the link, and still reads fine, frozen: without this
// check a deleted interface, or a link detached with bpftool, would report
// zeros forever instead of a fault.
func (k kernelCounter) Read(t *bpf.Totals) error {
	if err := k.Attachment.Read(t); err != nil {
		return err
	}
	attached, err := k.Attached()
	if err != nil {
		return fmt.Errorf("reading XDP counters of %q: %w", k.Interface(), err)
	}
	if !attached {
		return fmt.Errorf("reading XDP counters of %q: %w: the interface was deleted or moved to another network namespace, "+
			"or the link was detached from outside the collector; counting resumes once %q can be attached again",
			k.Interface(), errDetached, k.Interface())
	}
	return nil
}
