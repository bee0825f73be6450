//go:build linux

package bpf_test

import (
	"errors"
	"testing"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/internal/xdptest"
)

// TestDescribeDriver reads a veth's driver, features and MTU as an
// unprivileged caller could: ethtool's answers, decoded by the kernel's own
// feature names.
func TestDescribeDriver(t *testing.T) {
	p := xdptest.NewPair(t)
	p.SetMTU(t, 9000)
	d, err := bpf.DescribeDriver(p.Host)
	if err != nil {
		t.Fatal(err)
	}
	if d != (bpf.Driver{Name: "veth", MTU: 9000}) {
		t.Errorf("%s: %+v, want veth, MTU 9000, no LRO or hardware GRO", p.Host, d)
	}

	// A feature the test can turn on and off, decoded as LRO is.
	for _, on := range []bool{false, true} {
		p.SetSegmentation(t, false, on)
		f, err := bpf.Features(p.Host)
		if err != nil {
			t.Fatal(err)
		}
		if f["tx-tcp-segmentation"] != on || f["tx-generic-segmentation"] != on {
			t.Errorf("segmentation offloads turned %v: features say TSO %v, GSO %v", on, f["tx-tcp-segmentation"], f["tx-generic-segmentation"])
		}
		if _, ok := f["rx-lro"]; !ok {
			t.Errorf("no rx-lro among %d features", len(f))
		}
	}

	if _, err := bpf.DescribeDriver("nosuch" + p.Host[:6]); !errors.Is(err, bpf.ErrInterfaceNotFound) {
		t.Errorf("an interface that does not exist: got %v, want ErrInterfaceNotFound", err)
	}
}
