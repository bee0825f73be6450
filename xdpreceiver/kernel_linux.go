//go:build linux

package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/links"
	"github.com/otelcol-xdp/otelcol-xdp/internal/pods"
)

// linuxKernel is package bpf and rtnetlink. Their errors say what failed;
// the receiver adds the advice (advice.go). A nil pointer that failed to
// load is returned as a nil interface, not as an interface holding it.
func linuxKernel() kernel[*bpf.Interface, *bpf.CustomAttachment] {
	return kernel[*bpf.Interface, *bpf.CustomAttachment]{
		loadDatapath: func(opts bpf.Options) (datapath[*bpf.Interface], error) {
			d, err := bpf.Load(opts)
			if err != nil {
				return nil, err
			}
			return d, nil
		},
		openProgram: func(spec bpf.CustomSpec) (programObject[*bpf.CustomAttachment], error) {
			o, err := bpf.OpenCustom(spec)
			if err != nil {
				return nil, err
			}
			return o, nil
		},
		describeDriver: bpf.DescribeDriver,
		links:          netlinkLinks{},
		watchPods:      pods.Watch,
	}
}

// netlinkLinks is package links: rtnetlink.
type netlinkLinks struct{}

func (netlinkLinks) list() ([]links.Link, error)    { return links.List() }
func (netlinkLinks) index(name string) (int, error) { return links.Index(name) }
func (netlinkLinks) subscribe(events chan<- links.Event, done <-chan struct{}, onErr func(error)) error {
	return links.Subscribe(events, done, onErr)
}
