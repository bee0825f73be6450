package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"
	"net"

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

// errInterfaceGone marks a read error after which the attachment can never
// count again: the interface was deleted or moved to another namespace. The
// scraper then attaches afresh to whatever interface carries the name.
var errInterfaceGone = errors.New("interface is gone")

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

// Read fails once the interface is gone. The counter map outlives the
// interface and still reads fine, frozen: without this check a deleted
// interface would report zeros forever instead of a fault.
func (k kernelCounter) Read(t *bpf.Totals) error {
	if err := k.Attachment.Read(t); err != nil {
		return err
	}
	if _, err := net.InterfaceByIndex(k.Ifindex()); err != nil {
		return fmt.Errorf("reading XDP counters of %q: %w: index %d no longer exists (%v); "+
			"counting resumes when an interface named %q appears", k.Interface(), errInterfaceGone, k.Ifindex(), err, k.Interface())
	}
	return nil
}
