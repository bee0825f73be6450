package bpf

import "fmt"

// Mode is how the receive direction of an interface is counted. Transmit
// is always counted at TC egress.
type Mode int

const (
	// ModeAuto counts at TC ingress on every interface, where attaching
	// changes nothing in the driver. For a user's XDP program, which
	// cannot run at TC, it tries native XDP, then generic.
	ModeAuto Mode = iota
	// ModeNative forces XDP in the driver: it fails where the driver has
	// no XDP support or the slot is taken, and most drivers rebuild their
	// rings to attach it (Driver.XDPEffect).
	ModeNative
	// ModeGeneric forces XDP in the network stack: it works on every
	// interface, but costs a TCP stream much of its throughput, and sees a
	// GSO packet once, as one large frame.
	ModeGeneric
	// ModeTC forces TC ingress (TCX on Linux 6.6+, clsact before).
	ModeTC
)

var modeNames = [...]string{ModeAuto: "auto", ModeNative: "native", ModeGeneric: "generic", ModeTC: "tc"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "auto", "native", "generic" or "tc".
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if s == name {
			return Mode(m), nil
		}
	}
	return ModeAuto, fmt.Errorf("unknown mode %q: use auto, native, generic or tc", s)
}

// Hook is where a program runs on an interface.
type Hook int

const (
	// HookXDPNative is XDP in the driver, before the kernel allocates
	// anything for a frame.
	HookXDPNative Hook = iota + 1
	// HookXDPGeneric is XDP in the network stack.
	HookXDPGeneric
	// HookTCX is TC through a bpf_link (Linux 6.6+), which dies with the
	// process.
	HookTCX
	// HookTCLegacy is TC as a filter of the clsact qdisc (before 6.6),
	// which outlives the process: the next start removes it.
	HookTCLegacy
)

var hookNames = [...]string{HookXDPNative: "xdp-native", HookXDPGeneric: "xdp-generic", HookTCX: "tcx", HookTCLegacy: "tc-clsact"}

func (h Hook) String() string {
	if h > 0 && int(h) < len(hookNames) {
		return hookNames[h]
	}
	return fmt.Sprintf("Hook(%d)", int(h))
}
