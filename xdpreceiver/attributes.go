package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"fmt"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

// classAttributes are one class's attribute values.
type classAttributes struct {
	network   string
	transport string
}

// classAttrs maps each class to its attribute values once, so that a
// collection does no string work. Going through the names ties the two
// enums, bpf's and metadata.yaml's, together: a class without an attribute
// value stops the collector at start rather than emitting an empty one.
var classAttrs = func() (attrs [bpf.NumClasses]classAttributes) {
	for i := range attrs {
		c := bpf.ClassAt(i)
		n, okN := metadata.MapAttributeNetworkType[c.Network.String()]
		t, okT := metadata.MapAttributeNetworkTransport[c.Transport.String()]
		if !okN || !okT {
			panic(fmt.Sprintf("xdp counter class %s has no network.type or network.transport value in metadata.yaml", c))
		}
		attrs[i] = classAttributes{network: n.String(), transport: t.String()}
	}
	return attrs
}()

// directionAttrs are the network.io.direction values, by direction.
var directionAttrs = func() (attrs [bpf.NumDirections]string) {
	for d := range attrs {
		v, ok := metadata.MapAttributeNetworkIoDirection[bpf.Direction(d).String()]
		if !ok {
			panic(fmt.Sprintf("direction %s has no network.io.direction value in metadata.yaml", bpf.Direction(d)))
		}
		attrs[d] = v.String()
	}
	return attrs
}()

// classGroups are the series of one metric's classes. With every
// attribute enabled each class is a series of its own; a user who disables
// network.type or network.transport gets one series for the classes that
// differ only in those, whose counts add up.
type classGroups struct {
	n     int                 // the number of groups
	of    [bpf.NumClasses]int // the group of each class
	attrs [bpf.NumClasses]classAttributes
	// withNetwork and withTransport are the attributes the groups carry.
	withNetwork, withTransport bool
}

func newClassGroups(withNetwork, withTransport bool) *classGroups {
	g := &classGroups{withNetwork: withNetwork, withTransport: withTransport}
	index := map[classAttributes]int{}
	for class := range bpf.NumClasses {
		a := classAttrs[class]
		if !withNetwork {
			a.network = ""
		}
		if !withTransport {
			a.transport = ""
		}
		i, ok := index[a]
		if !ok {
			i = g.n
			index[a] = i
			g.attrs[i] = a
			g.n++
		}
		g.of[class] = i
	}
	return g
}

// equal tells whether the two group the classes alike.
func (g *classGroups) equal(o *classGroups) bool {
	return g.withNetwork == o.withNetwork && g.withTransport == o.withTransport
}
