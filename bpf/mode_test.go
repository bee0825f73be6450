package bpf_test

import (
	"testing"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// TestParseMode: every attach_mode value parses to its mode and back, and
// anything else is refused, naming the values there are, with auto.
func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bpf.Mode
	}{
		{"auto", bpf.ModeAuto},
		{"native", bpf.ModeNative},
		{"generic", bpf.ModeGeneric},
		{"tc", bpf.ModeTC},
	} {
		got, err := bpf.ParseMode(tc.s)
		if err != nil || got != tc.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", tc.s, got, err, tc.want)
		}
		if got.String() != tc.s {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tc.s)
		}
	}
	for _, s := range []string{"", "Auto", "xdp", "drv", "skb", "tcx", "native "} {
		got, err := bpf.ParseMode(s)
		want := `unknown mode "` + s + `": use auto, native, generic or tc`
		if err == nil || err.Error() != want || got != bpf.ModeAuto {
			t.Errorf("ParseMode(%q) = %v, %v; want auto and %q", s, got, err, want)
		}
	}
}

// TestModeAndHookStrings: modes and hooks read as the names that logs and
// the status show, and a value out of range reads as its number, never as
// another's name.
func TestModeAndHookStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{bpf.ModeAuto.String(), "auto"},
		{bpf.ModeTC.String(), "tc"},
		{bpf.Mode(-1).String(), "Mode(-1)"},
		{bpf.Mode(4).String(), "Mode(4)"},
		{bpf.HookXDPNative.String(), "xdp-native"},
		{bpf.HookXDPGeneric.String(), "xdp-generic"},
		{bpf.HookTCX.String(), "tcx"},
		{bpf.HookTCLegacy.String(), "tc-clsact"},
		{bpf.Hook(0).String(), "Hook(0)"},
		{bpf.Hook(5).String(), "Hook(5)"},
		{bpf.Hook(-2).String(), "Hook(-2)"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}
