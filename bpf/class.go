package bpf

import "fmt"

// NetworkType is the network.type of a frame: what its ethertype says, after
// up to two VLAN tags. The values come from counter.h through bpf2go.
type NetworkType = counterNetType

// Transport is the network.transport of a frame: the upper-layer protocol its
// IP header names, or TransportNone when none could be identified.
type Transport = counterTransport

// The network types and transports, as counter.h numbers them.
const (
	IPv4         NetworkType = counterNetTypeNET_TYPE_IPV4
	IPv6         NetworkType = counterNetTypeNET_TYPE_IPV6
	ARP          NetworkType = counterNetTypeNET_TYPE_ARP
	NetworkOther NetworkType = counterNetTypeNET_TYPE_OTHER

	TCP            Transport = counterTransportTRANSPORT_TCP
	UDP            Transport = counterTransportTRANSPORT_UDP
	ICMP           Transport = counterTransportTRANSPORT_ICMP
	TransportOther Transport = counterTransportTRANSPORT_OTHER
	TransportNone  Transport = counterTransportTRANSPORT_NONE

	numNetworkTypes = int(counterNetTypeNET_TYPE_COUNT)
	numTransports   = int(counterTransportTRANSPORT_COUNT)

	// NumClasses is the number of (network type, transport) classes, and so
	// the number of slots in an interface's counters map.
	NumClasses = numNetworkTypes * numTransports
)

var (
	networkTypeNames = [numNetworkTypes]string{"ipv4", "ipv6", "arp", "other"}
	transportNames   = [numTransports]string{"tcp", "udp", "icmp", "other", "none"}
)

// String returns the network.type attribute value: ipv4, ipv6, arp or other.
func (t counterNetType) String() string {
	if int(t) < numNetworkTypes {
		return networkTypeNames[t]
	}
	return "invalid"
}

// String returns the network.transport attribute value: tcp, udp, icmp,
// other or none.
func (t counterTransport) String() string {
	if int(t) < numTransports {
		return transportNames[t]
	}
	return "invalid"
}

// Class is what a frame is counted under.
type Class struct {
	Network   NetworkType
	Transport Transport
}

// ClassAt returns the class counted in slot i of the counters map, for
// 0 <= i < NumClasses. The layout is counter.h's: network * transports + transport.
func ClassAt(i int) Class {
	return Class{Network: NetworkType(i / numTransports), Transport: Transport(i % numTransports)}
}

// Index is the slot of c in the counters map, and so in each direction of
// Counts: Dir[direction][c.Index()]. It is ClassAt's inverse.
func (c Class) Index() int {
	return int(c.Network)*numTransports + int(c.Transport)
}

func (c Class) String() string {
	return c.Network.String() + "/" + c.Transport.String()
}

// Counter holds a packet and a byte count. Kernel counters only grow.
type Counter = counterCounter

// Direction is the network.io.direction a counter counts: what arrives on
// an interface (XDP, TC ingress) or what leaves it (TC egress).
type Direction = counterDirection

// The directions, as counter.h numbers them.
const (
	Receive  Direction = counterDirectionDIRECTION_RECEIVE
	Transmit Direction = counterDirectionDIRECTION_TRANSMIT

	// NumDirections is the number of directions.
	NumDirections = int(counterDirectionDIRECTION_COUNT)
)

var directionNames = [NumDirections]string{"receive", "transmit"}

// String returns the network.io.direction attribute value.
func (d counterDirection) String() string {
	if int(d) < NumDirections {
		return directionNames[d]
	}
	return "invalid"
}

// ParseDirection parses "receive" or "transmit".
func ParseDirection(s string) (Direction, error) {
	for d, name := range directionNames {
		if s == name {
			return Direction(d), nil
		}
	}
	return 0, fmt.Errorf("unknown direction %q: use receive or transmit", s)
}

// Counts holds every counter of one interface: Dir[direction][class].
type Counts = counterSlotCounters

// Snapshot holds the counters of the slots of a datapath, by slot, summed
// over CPUs, as one Read found them.
type Snapshot []Counts

// Slot returns the counters of slot, or zeros for a slot the read did not
// reach (never handed out).
func (s *Snapshot) Slot(slot uint32) *Counts {
	if int(slot) >= len(*s) {
		return &Counts{}
	}
	return &(*s)[slot]
}

// Unattributed returns the counters of packets that met no slot: packets
// of an interface that a program ran on without the slot index knowing it.
func (s *Snapshot) Unattributed() *Counts { return s.Slot(uint32(counterSlotLayoutSLOT_UNATTRIBUTED)) }
