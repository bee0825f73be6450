package xdpreceiver // import "github.com/otelcol-xdp/otelcol-xdp/xdpreceiver"

import (
	"fmt"

	"github.com/otelcol-xdp/otelcol-xdp/bpf"
	"github.com/otelcol-xdp/otelcol-xdp/xdpreceiver/internal/metadata"
)

type classAttributes struct {
	network   metadata.AttributeNetworkType
	transport metadata.AttributeNetworkTransport
}

// classAttrs maps each counter slot to its attribute values once, so that
// a scrape does no string lookups. Going through the names ties the two
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
		attrs[i] = classAttributes{network: n, transport: t}
	}
	return attrs
}()
