//go:build linux

package bpf_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// TestXDPEffect names what each driver does when XDP comes and goes, and
// what generic XDP does to every driver.
func TestXDPEffect(t *testing.T) {
	for _, tc := range []struct {
		d    bpf.Driver
		mode bpf.Mode
		want string
	}{
		{bpf.Driver{Name: "i40e"}, bpf.ModeNative, "driver i40e: attaching and detaching native XDP resets the PF"},
		{bpf.Driver{Name: "ena"}, bpf.ModeNative, "caps the MTU at 3498 while attached"},
		{bpf.Driver{Name: "virtio_net"}, bpf.ModeNative, "turns the host's guest offloads off while attached"},
		{bpf.Driver{Name: "veth"}, bpf.ModeNative, "turns segmentation offload off on its peer"},
		{bpf.Driver{Name: "e1000e"}, bpf.ModeNative, "driver e1000e: attaching and detaching native XDP may rebuild its rings"},
		{bpf.Driver{}, bpf.ModeNative, "driver unknown:"},
		{bpf.Driver{Name: "i40e"}, bpf.ModeGeneric, "generic XDP handles every packet apart"},
	} {
		if got := tc.d.XDPEffect(tc.mode); !strings.Contains(got, tc.want) {
			t.Errorf("%+v in %v mode: %q, want it to say %q", tc.d, tc.mode, got, tc.want)
		}
	}
	lro := bpf.Driver{Name: "ixgbe", LRO: true}.XDPEffect(bpf.ModeGeneric)
	if !strings.Contains(lro, "turns LRO and hardware GRO off on the interface, and does not turn them on again") {
		t.Errorf("generic XDP with LRO on: %q, want it to say that the kernel turns LRO off for good", lro)
	}
	if off := (bpf.Driver{Name: "ixgbe"}).XDPEffect(bpf.ModeGeneric); strings.Contains(off, "LRO") {
		t.Errorf("generic XDP with LRO off: %q says LRO", off)
	}
}

// TestCheckNative refuses what the drivers refuse, before they reconfigure
// anything: mlx5 with LRO or hardware GRO on, ena above its XDP MTU; and
// nothing else.
func TestCheckNative(t *testing.T) {
	for _, tc := range []struct {
		d     bpf.Driver
		want  error
		limit int
	}{
		{bpf.Driver{Name: "mlx5_core", LRO: true, MTU: 1500}, bpf.ErrLROOn, 0},
		{bpf.Driver{Name: "mlx5_core", GROHW: true, MTU: 1500}, bpf.ErrLROOn, 0},
		{bpf.Driver{Name: "mlx5_core", MTU: 1500}, nil, 0},
		{bpf.Driver{Name: "ena", MTU: 9001}, bpf.ErrMTUAboveXDPLimit, 3498},
		{bpf.Driver{Name: "ena", MTU: 3498}, nil, 0},
		{bpf.Driver{Name: "i40e", LRO: true, MTU: 9000}, nil, 0},
		{bpf.Driver{MTU: 9000}, nil, 0},
	} {
		err := tc.d.CheckNative("eth0", true)
		if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%+v: got %v, want %v", tc.d, err, tc.want)
			continue
		}
		var dr *bpf.DriverRefusedError
		if err != nil && (!errors.As(err, &dr) || dr.Interface != "eth0" || dr.Driver != tc.d.Name || dr.Limit != tc.limit || dr.MTU != tc.d.MTU) {
			t.Errorf("%+v: got %#v, want a DriverRefusedError naming eth0, %s, limit %d", tc.d, err, tc.d.Name, tc.limit)
		}
		if tc.limit > 0 && !dr.MTUTooLarge() {
			t.Errorf("%+v: MTUTooLarge is false above the driver's limit", tc.d)
		}
	}
}
