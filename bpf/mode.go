package bpf

import "fmt"

// Mode is how the program is attached to an interface.
type Mode int

const (
	// ModeAuto tries native XDP and falls back to generic XDP when the
	// driver does not support native XDP.
	ModeAuto Mode = iota
	// ModeNative runs the program in the driver, before an skb exists.
	ModeNative
	// ModeGeneric runs the program in the kernel's network stack; it works
	// on every interface, at a higher cost per packet.
	ModeGeneric
)

var modeNames = [...]string{ModeAuto: "auto", ModeNative: "native", ModeGeneric: "generic"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode parses "auto", "native" or "generic".
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if s == name {
			return Mode(m), nil
		}
	}
	return ModeAuto, fmt.Errorf("unknown attach mode %q: use auto, native or generic", s)
}
