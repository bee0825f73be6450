//go:build linux

package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
)

// linuxKernel is package bpf and rtnetlink. Their errors say what failed;
// the receiver adds the advice (advice.go).
func linuxKernel() kernel {
	return kernel{
		loadDatapath: func(opts bpf.Options) (datapath, error) {
			d, err := bpf.Load(opts)
			if err != nil {
				return nil, err
			}
			return &bpfDatapath{d: d}, nil
		},
		openProgram: func(spec bpf.CustomSpec) (programObject, error) {
			o, err := bpf.OpenCustom(spec)
			if err != nil {
				return nil, err
			}
			return bpfProgram{o}, nil
		},
		describeDriver: bpf.DescribeDriver,
		links:          netlinkLinks{},
	}
}

// bpfDatapath is a bpf.Datapath and the snapshot its reads fill.
type bpfDatapath struct {
	d    *bpf.Datapath
	snap bpf.Snapshot
}

func (p *bpfDatapath) open(name string) (datapathInterface, error) {
	i, err := p.d.Open(name)
	if err != nil {
		return nil, err
	}
	return bpfInterface{i}, nil
}

func (p *bpfDatapath) read() error                    { return p.d.Read(&p.snap) }
func (p *bpfDatapath) counts(slot uint32) *bpf.Counts { return p.snap.Slot(slot) }
func (p *bpfDatapath) readSlot(slot uint32) (bpf.Counts, error) {
	return p.d.ReadSlot(slot)
}
func (p *bpfDatapath) close() error { return p.d.Close() }

type bpfInterface struct{ i *bpf.Interface }

func (b bpfInterface) ifindex() int  { return b.i.Ifindex() }
func (b bpfInterface) slot() uint32  { return b.i.Slot() }
func (b bpfInterface) detach() error { return b.i.Detach() }
func (b bpfInterface) release() error {
	return b.i.Release()
}
func (b bpfInterface) attached() (bool, error) { return b.i.Attached() }
func (b bpfInterface) attach(dir bpf.Direction, mode bpf.Mode) (bpf.Attachment, error) {
	return b.i.Attach(dir, mode)
}

type bpfProgram struct{ o *bpf.CustomObject }

func (p bpfProgram) attach(name string, mode bpf.Mode) (programAttachment, error) {
	a, err := p.o.Attach(name, mode)
	if err != nil {
		return nil, err
	}
	return bpfProgramAttachment{a}, nil
}

type bpfProgramAttachment struct{ a *bpf.CustomAttachment }

func (b bpfProgramAttachment) ifindex() int                     { return b.a.Ifindex() }
func (b bpfProgramAttachment) mode() bpf.Mode                   { return b.a.Mode() }
func (b bpfProgramAttachment) read(dst map[uint32]uint64) error { return b.a.Read(dst) }
func (b bpfProgramAttachment) attached() (bool, error)          { return b.a.Attached() }
func (b bpfProgramAttachment) detach() error                    { return b.a.Detach() }
func (b bpfProgramAttachment) release() error                   { return b.a.Close() }

// netlinkLinks is package links: rtnetlink.
type netlinkLinks struct{}

func (netlinkLinks) list() ([]links.Link, error)    { return links.List() }
func (netlinkLinks) index(name string) (int, error) { return links.Index(name) }
func (netlinkLinks) subscribe(events chan<- links.Event, done <-chan struct{}, onErr func(error)) error {
	return links.Subscribe(events, done, onErr)
}
