package xdptest

import "regexp"

// testInterface matches every interface name this package makes: a pair's
// ends (xdp<id>h, xdp<id>p), a generic-only interface (xdp<id>i), a tun
// (xdp<id>t), a VXLAN device (xdp<id>x), a pods' bridge (xdp<id>b), and
// the host ends of a group of pairs (xg<id>v<n>).
var testInterface = regexp.MustCompile(`^(xdp[0-9a-f]{6}[hpitxb]|xg[0-9a-f]{6}v\d+)$`)

// IsTestInterface tells whether name is an interface that some test made
// through this package, possibly a test running in parallel in another
// package: a check of the whole host must leave those to their tests.
func IsTestInterface(name string) bool {
	return testInterface.MatchString(name)
}
