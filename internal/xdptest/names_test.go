package xdptest

import "testing"

func TestIsTestInterface(t *testing.T) {
	for name, want := range map[string]bool{
		"xdp0a1b2ch": true, "xdp0a1b2cp": true, "xdp0a1b2ci": true, "xdp0a1b2ct": true, "xdp0a1b2cx": true, "xdp0a1b2cb": true, "xgabcdefv0": true, "xgabcdefv49": true,
		"eth0": false, "lo": false, "xdp0": false, "veth12": false, "xdp0a1b2c": false, "xgabcdefv": false,
	} {
		if got := IsTestInterface(name); got != want {
			t.Errorf("IsTestInterface(%q) = %v, want %v", name, got, want)
		}
	}
}
