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
	// Ifindex is the index of the interface the counter was attached to,
	// which tells a re-created interface from the one that was counted.
	Ifindex() int
}

// attachFunc attaches a counter to the interface named iface.
type attachFunc func(iface string, mode bpf.Mode) (counterReader, error)

// errDetached marks a read error after which the attachment can never count
// again. The totals read along with it are valid, the counter's last ones:
// the scraper emits them, closes the attachment and attaches afresh to
// whatever interface carries the name.
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
//
// When the program is found detached, t holds the counts read after the
// detach was seen, so that the scraper can emit the series' last delta:
// the first read may predate packets counted just before the detach, the
// second cannot, as nothing counts once the program is off the interface
// (a deleted interface stops its receive path before XDP is uninstalled).
func (k kernelCounter) Read(t *bpf.Totals) error {
	if err := k.Attachment.Read(t); err != nil {
		return err
	}
	attached, err := k.Attached()
	if err != nil {
		return fmt.Errorf("reading XDP counters of %q: %w", k.Interface(), err)
	}
	if attached {
		return nil
	}
	if err := k.Attachment.Read(t); err != nil {
		return fmt.Errorf("reading the last XDP counts of %q: %w", k.Interface(), err)
	}
	return fmt.Errorf("reading XDP counters of %q: %w: the interface was deleted or moved to another network namespace, "+
		"or the link was detached from outside the collector; counting resumes once %q can be attached again",
		k.Interface(), errDetached, k.Interface())
}
