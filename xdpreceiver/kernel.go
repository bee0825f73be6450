package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"

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
// zeros forever instead of a fault. One RTM_GETLINK for one index is cheap
// next to the collection interval.
func (k kernelCounter) Read(t *bpf.Totals) error {
	if err := k.Attachment.Read(t); err != nil {
		return err
	}
	l, err := netlink.LinkByIndex(k.Ifindex())
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		return fmt.Errorf("reading XDP counters of %q: %w: interface index %d is gone (deleted, or moved to another "+
			"network namespace); counting resumes when an interface named %q appears", k.Interface(), errDetached, k.Ifindex(), k.Interface())
	case err != nil:
		return fmt.Errorf("reading XDP counters of %q: checking that interface index %d still exists: %w", k.Interface(), k.Ifindex(), err)
	case l.Attrs().Xdp == nil || !l.Attrs().Xdp.Attached:
		return fmt.Errorf("reading XDP counters of %q: %w: its program was detached from outside the collector; "+
			"attaching again", k.Interface(), errDetached)
	}
	return nil
}
