//go:build linux

package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"errors"
	"fmt"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// reader is one attachment of a counter to an interface, whatever it
// counts. The scraper attaches, reads and closes readers through its
// source, which knows how to read them.
type reader interface {
	Close() error
	// Ifindex is the index of the interface the counter was attached to,
	// which tells a re-created interface from the one that was counted.
	Ifindex() int
}

// counterReader is an attachment of the built-in counter. It is an
// interface so that the scraper's logic can be tested without privileges.
type counterReader interface {
	reader
	Read(*bpf.Totals) error
}

// programReader is an attachment of a user's program: Read replaces dst
// with every key of its counter map and the key's value.
type programReader interface {
	reader
	Read(dst map[uint32]uint64) error
}

// kernel is what the scraper asks of the kernel's BPF: the real one, or
// tests' fakes.
type kernel interface {
	// attach attaches the built-in counter to the interface named iface.
	attach(iface string, mode bpf.Mode) (counterReader, error)
	// openProgram reads a user's program once and checks what can be
	// checked without the kernel (file, ELF, function, map shape).
	openProgram(spec bpf.CustomSpec) (programObject, error)
}

// programObject is a user's program as read at start: every attachment
// loads a fresh copy of it, with maps of its own, and a file changed on disk
// later never changes what is attached.
type programObject interface {
	attach(iface string, mode bpf.Mode) (programReader, error)
}

// attachFunc is a kernel that attaches the built-in counter only, which is
// all that most tests need.
type attachFunc func(iface string, mode bpf.Mode) (counterReader, error)

func (f attachFunc) attach(iface string, mode bpf.Mode) (counterReader, error) { return f(iface, mode) }

func (attachFunc) openProgram(bpf.CustomSpec) (programObject, error) {
	return nil, errors.New("this kernel attaches the built-in counter only")
}

// errDetached marks a read error after which the attachment can never count
// again. The counts read along with it are valid, the counter's last ones:
// the scraper emits them, closes the attachment and attaches afresh to
// whatever interface carries the name.
var errDetached = errors.New("XDP counter is no longer attached")

// bpfKernel is the kernel's BPF, through package bpf. Its errors already
// name the interface or object and say what to do, so they are returned as
// they are.
type bpfKernel struct{}

func (bpfKernel) attach(iface string, mode bpf.Mode) (counterReader, error) {
	a, err := bpf.Attach(iface, mode)
	if err != nil {
		return nil, err
	}
	return kernelCounter{a}, nil
}

func (bpfKernel) openProgram(spec bpf.CustomSpec) (programObject, error) {
	o, err := bpf.OpenCustom(spec)
	if err != nil {
		return nil, err
	}
	return bpfProgram{o}, nil
}

type bpfProgram struct{ *bpf.CustomObject }

func (o bpfProgram) attach(iface string, mode bpf.Mode) (programReader, error) {
	a, err := o.Attach(iface, mode)
	if err != nil {
		return nil, err
	}
	return kernelProgram{a}, nil
}

type kernelCounter struct {
	*bpf.Attachment
}

func (k kernelCounter) Read(t *bpf.Totals) error { return readLive(k.Attachment, t) }

type kernelProgram struct {
	*bpf.CustomAttachment
}

func (k kernelProgram) Read(dst map[uint32]uint64) error { return readLive(k.CustomAttachment, dst) }

// liveAttachment is an attachment of either kind, read into a T.
type liveAttachment[T any] interface {
	Read(T) error
	Attached() (bool, error)
	Interface() string
}

// readLive reads a into dst and fails once a cannot count any more. Its
// map outlives both the interface and the link, and still reads fine,
// frozen: without this check a deleted interface, or a link detached with
// bpftool, would report zeros forever instead of a fault.
//
// When the program is found detached, dst holds the counts read after the
// detach was seen, so that the scraper can emit the series' last delta:
// the first read may predate packets counted just before the detach, the
// second cannot, as nothing counts once the program is off the interface
// (a deleted interface stops its receive path before XDP is uninstalled).
func readLive[T any](a liveAttachment[T], dst T) error {
	if err := a.Read(dst); err != nil {
		return err
	}
	attached, err := a.Attached()
	if err != nil {
		return fmt.Errorf("reading XDP counters of %q: %w", a.Interface(), err)
	}
	if attached {
		return nil
	}
	if err := a.Read(dst); err != nil {
		return fmt.Errorf("reading the last XDP counts of %q: %w", a.Interface(), err)
	}
	return fmt.Errorf("reading XDP counters of %q: %w: the interface was deleted or moved to another network namespace, "+
		"or the link was detached from outside the collector; counting resumes once %q can be attached again",
		a.Interface(), errDetached, a.Interface())
}
