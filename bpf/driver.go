package bpf

import (
	"errors"
	"fmt"
)

// Driver is what attaching XDP to an interface depends on in its driver:
// read without privilege (DescribeDriver), before anything is attached.
type Driver struct {
	// Name is the driver's name as ethtool reports it ("i40e",
	// "virtio_net", "veth"), or "" where the interface has none to tell.
	Name string
	// LRO and GROHW tell whether large receive offload and hardware GRO
	// are on: drivers that aggregate in hardware cannot hand XDP one frame
	// at a time, and some refuse XDP while they do.
	LRO, GROHW bool
	// MTU is the interface's MTU.
	MTU int
}

// ErrLROOn means the driver refuses native XDP while large receive offload
// or hardware GRO is on. Errors that wrap it are a *DriverRefusedError.
var ErrLROOn = errors.New("driver refuses XDP while LRO or hardware GRO is on")

// ErrMTUAboveXDPLimit means the interface's MTU is above the largest the
// driver takes with XDP. Errors that wrap it are a *DriverRefusedError,
// whose Limit is that MTU.
var ErrMTUAboveXDPLimit = errors.New("MTU above the driver's XDP limit")

// xdpDriver is what a driver's XDP setup does, as read in its code
// (mainline 6.3 to 6.12): what attaching the first program and detaching
// the last do to the interface, and what the driver refuses.
type xdpDriver struct {
	// effect is what attaching and detaching native XDP do, as a clause.
	effect string
	// refusesLRO: the driver refuses XDP while LRO or hardware GRO is on
	// (mlx5: "can't set XDP while HW-GRO/LRO is on").
	refusesLRO bool
	// maxMTU is the largest MTU the driver takes with XDP, frags or not
	// (ena has no multi-buffer XDP), or 0 where the program's frags
	// support decides.
	maxMTU int
}

const resets = "attaching and detaching native XDP rebuilds its rings, taking the link down and up"

// xdpDrivers are the drivers whose XDP setup was read. A driver missing
// here gets unknownDriver.
var xdpDrivers = map[string]xdpDriver{
	"i40e":       {effect: "attaching and detaching native XDP resets the PF: every ring is rebuilt and the link drops"},
	"ixgbe":      {effect: "attaching and detaching native XDP takes the link down to rebuild its rings"},
	"ice":        {effect: resets},
	"igb":        {effect: resets},
	"igc":        {effect: resets},
	"gve":        {effect: resets},
	"ena":        {effect: resets + ", and caps the MTU at 3498 while attached", maxMTU: 3498},
	"bnxt_en":    {effect: resets + ", and turns hardware GRO and LRO off while attached"},
	"vmxnet3":    {effect: resets + ", and turns LRO off while attached"},
	"virtio_net": {effect: "native XDP turns the host's guest offloads off while attached: no hardware GRO or LRO, checksums computed in the guest"},
	"mlx5_core":  {effect: "attaching and detaching native XDP reopens its channels, a short loss of traffic", refusesLRO: true},
	"veth":       {effect: "native XDP turns segmentation offload off on its peer while attached: a TCP stream through it slows to about half"},
}

// unknownDriver is what most drivers read do: XDP needs rings of another
// layout, and they rebuild them.
var unknownDriver = xdpDriver{effect: "attaching and detaching native XDP may rebuild its rings and drop the link, as most drivers do"}

// XDPEffect says what attaching XDP in mode (native or generic) does to
// the interface, and detaching it again: the cost of counting with XDP,
// which TC does not have.
func (d Driver) XDPEffect(mode Mode) string {
	if mode == ModeGeneric {
		s := "generic XDP handles every packet apart: a GSO packet is one frame, and TCP throughput falls"
		if d.LRO || d.GROHW {
			// generic_xdp_install: dev_disable_lro, dev_disable_gro_hw.
			s += "; the kernel turns LRO and hardware GRO off on the interface, and does not turn them on again"
		}
		return s
	}
	x, ok := xdpDrivers[d.Name]
	if !ok {
		x = unknownDriver
	}
	name := d.Name
	if name == "" {
		name = "unknown"
	}
	return fmt.Sprintf("driver %s: %s", name, x.effect)
}

// checkNative refuses, before attaching, native XDP that the driver would
// refuse anyway: with LRO on where it refuses that, or above the MTU it
// takes. Failing here, with the reason, spares the interface the driver's
// reconfiguration and the user an errno.
func (d Driver) checkNative(iface string, frags bool) error {
	x := xdpDrivers[d.Name]
	switch {
	case x.refusesLRO && (d.LRO || d.GROHW):
		return &DriverRefusedError{Interface: iface, Driver: d.Name, MTU: d.MTU, Frags: frags, Err: ErrLROOn}
	case x.maxMTU > 0 && d.MTU > x.maxMTU:
		return &DriverRefusedError{Interface: iface, Driver: d.Name, MTU: d.MTU, Limit: x.maxMTU, Frags: frags, Err: ErrMTUAboveXDPLimit}
	}
	return nil
}
