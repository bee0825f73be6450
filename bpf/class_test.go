package bpf_test

import (
	"testing"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
)

// TestClassAtIndex: ClassAt and Index are inverse over every slot of the
// counters map, no two slots hold the same class, and the slots follow
// counter.h's layout, network * transports + transport, which the kernel
// programs count into.
func TestClassAtIndex(t *testing.T) {
	if bpf.NumClasses != 20 {
		t.Errorf("NumClasses = %d, want 4 network types x 5 transports", bpf.NumClasses)
	}
	seen := map[bpf.Class]int{}
	for i := range bpf.NumClasses {
		c := bpf.ClassAt(i)
		if c.Index() != i {
			t.Errorf("ClassAt(%d) = %v, whose Index is %d", i, c, c.Index())
		}
		if j, dup := seen[c]; dup {
			t.Errorf("slots %d and %d both hold %v", j, i, c)
		}
		seen[c] = i
	}
	for _, tc := range []struct {
		slot int
		want bpf.Class
	}{
		{0, bpf.Class{Network: bpf.IPv4, Transport: bpf.TCP}},
		{4, bpf.Class{Network: bpf.IPv4, Transport: bpf.TransportNone}},
		{5, bpf.Class{Network: bpf.IPv6, Transport: bpf.TCP}},
		{7, bpf.Class{Network: bpf.IPv6, Transport: bpf.ICMP}},
		{14, bpf.Class{Network: bpf.ARP, Transport: bpf.TransportNone}},
		{18, bpf.Class{Network: bpf.NetworkOther, Transport: bpf.TransportOther}},
		{19, bpf.Class{Network: bpf.NetworkOther, Transport: bpf.TransportNone}},
	} {
		if got := bpf.ClassAt(tc.slot); got != tc.want {
			t.Errorf("ClassAt(%d) = %v, want %v", tc.slot, got, tc.want)
		}
	}
}

// TestClassString: a class reads as its network.type and
// network.transport attribute values; a value out of range reads as
// invalid rather than panicking or borrowing another's name.
func TestClassString(t *testing.T) {
	for _, tc := range []struct {
		class bpf.Class
		want  string
	}{
		{bpf.Class{Network: bpf.IPv4, Transport: bpf.TCP}, "ipv4/tcp"},
		{bpf.Class{Network: bpf.IPv4, Transport: bpf.ICMP}, "ipv4/icmp"},
		{bpf.Class{Network: bpf.IPv6, Transport: bpf.UDP}, "ipv6/udp"},
		{bpf.Class{Network: bpf.IPv6, Transport: bpf.TransportOther}, "ipv6/other"},
		{bpf.Class{Network: bpf.ARP, Transport: bpf.TransportNone}, "arp/none"},
		{bpf.Class{Network: bpf.NetworkOther, Transport: bpf.TransportNone}, "other/none"},
		{bpf.Class{Network: bpf.NetworkType(4), Transport: bpf.TCP}, "invalid/tcp"},
		{bpf.Class{Network: bpf.IPv4, Transport: bpf.Transport(5)}, "ipv4/invalid"},
	} {
		if got := tc.class.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.class, got, tc.want)
		}
	}
}

// TestDirectionString: each direction reads as its network.io.direction
// value, and ParseDirection takes exactly those values back; anything else
// is refused with the values it takes.
func TestDirectionString(t *testing.T) {
	for _, tc := range []struct {
		dir  bpf.Direction
		want string
	}{
		{bpf.Receive, "receive"},
		{bpf.Transmit, "transmit"},
		{bpf.Direction(bpf.NumDirections), "invalid"},
	} {
		if got := tc.dir.String(); got != tc.want {
			t.Errorf("Direction(%d).String() = %q, want %q", uint32(tc.dir), got, tc.want)
		}
	}
	for d := range bpf.NumDirections {
		dir := bpf.Direction(d)
		got, err := bpf.ParseDirection(dir.String())
		if err != nil || got != dir {
			t.Errorf("ParseDirection(%q) = %v, %v; want %v", dir.String(), got, err, dir)
		}
	}
	for _, s := range []string{"", "Receive", "rx", "tx", "invalid", "receive "} {
		_, err := bpf.ParseDirection(s)
		if want := `unknown direction "` + s + `": use receive or transmit`; err == nil || err.Error() != want {
			t.Errorf("ParseDirection(%q): got %v, want %q", s, err, want)
		}
	}
}
