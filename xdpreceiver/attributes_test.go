package xdpreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// TestClassAttributes ties bpf's classes to metadata.yaml's enums.
func TestClassAttributes(t *testing.T) {
	for i := range bpf.NumClasses {
		c := bpf.ClassAt(i)
		assert.Equal(t, c.Network.String(), classAttrs[i].network, "class %d", i)
		assert.Equal(t, c.Transport.String(), classAttrs[i].transport, "class %d", i)
	}
	assert.Len(t, metadata.MapAttributeNetworkType, 4)
	assert.Len(t, metadata.MapAttributeNetworkTransport, 5)
	assert.Equal(t, 20, bpf.NumClasses)
}

// TestDirectionAttributes ties bpf's directions to metadata.yaml's
// network.io.direction values, in bpf's order.
func TestDirectionAttributes(t *testing.T) {
	assert.Equal(t, [bpf.NumDirections]string{"receive", "transmit"}, directionAttrs)
	for _, v := range directionAttrs {
		assert.Contains(t, metadata.MapAttributeNetworkIoDirection, v)
	}
}

// TestClassGroups: with network.type and network.transport enabled every
// class is a series of its own; each disabled attribute merges the
// classes that only it told apart, and a group carries the attribute
// values its classes share, none of a disabled attribute.
func TestClassGroups(t *testing.T) {
	for _, tc := range []struct {
		network, transport bool
		groups             int
	}{
		{true, true, bpf.NumClasses},
		{false, true, 5}, // one per transport
		{true, false, 4}, // one per network type
		{false, false, 1},
	} {
		g := newClassGroups(tc.network, tc.transport)
		assert.Equal(t, tc.groups, g.n, "network.type %v, network.transport %v", tc.network, tc.transport)
		for i := range bpf.NumClasses {
			assert.Less(t, g.of[i], g.n)
			want := classAttrs[i]
			if !tc.network {
				want.network = ""
			}
			if !tc.transport {
				want.transport = ""
			}
			assert.Equal(t, want, g.attrs[g.of[i]], "class %v", bpf.ClassAt(i))
			for j := range bpf.NumClasses {
				a, b := classAttrs[i], classAttrs[j]
				same := (!tc.network || a.network == b.network) && (!tc.transport || a.transport == b.transport)
				assert.Equal(t, same, g.of[i] == g.of[j], "classes %v and %v", bpf.ClassAt(i), bpf.ClassAt(j))
			}
		}
	}
	assert.True(t, newClassGroups(false, true).equal(newClassGroups(false, true)))
	assert.False(t, newClassGroups(false, true).equal(newClassGroups(true, true)))
	assert.False(t, newClassGroups(true, false).equal(newClassGroups(true, true)))
}
