/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The one definition of everything the counter shares with user space.
 * bpf2go turns these types into Go (-type), so the Go side never mirrors them
 * by hand: change a type here, run `make generate`, and both sides follow.
 */
#ifndef OTELCOL_XDP_COUNTER_H
#define OTELCOL_XDP_COUNTER_H

#include <linux/types.h>

/*
 * network.type: what the (possibly VLAN-tagged) ethertype says; on a device
 * without a link layer, the protocol the kernel took the packet for (TC), or
 * its IP version (XDP).
 */
enum net_type {
	NET_TYPE_IPV4 = 0,
	NET_TYPE_IPV6 = 1,
	NET_TYPE_ARP = 2,
	NET_TYPE_OTHER = 3,
	NET_TYPE_COUNT = 4,
};

/*
 * network.transport: the upper-layer protocol that the IP header (and, for
 * IPv6, its extension headers) names. TRANSPORT_NONE means no transport could
 * be identified: a non-IP frame, or an IP header that was cut short or is
 * malformed.
 */
enum transport {
	TRANSPORT_TCP = 0,
	TRANSPORT_UDP = 1,
	TRANSPORT_ICMP = 2,
	TRANSPORT_OTHER = 3,
	TRANSPORT_NONE = 4,
	TRANSPORT_COUNT = 5,
};

/*
 * A class indexes an interface's counters of one direction:
 *   class = net_type * TRANSPORT_COUNT + transport
 * so every (net_type, transport) pair has exactly one counter and counting
 * needs no hashing.
 */
enum class_layout {
	CLASS_COUNT = NET_TYPE_COUNT * TRANSPORT_COUNT,
};

/* network.io.direction: receive at XDP or TC ingress, transmit at TC egress. */
enum direction {
	DIRECTION_RECEIVE = 0,
	DIRECTION_TRANSMIT = 1,
	DIRECTION_COUNT = 2,
};

/*
 * One class's counts. Both fields only ever grow: user space never writes or
 * clears them, it turns successive reads into deltas.
 */
struct counter {
	__u64 packets; /* what the wire carries: a GSO packet counts its segments */
	/*
	 * Whole frames, Ethernet header included, or, on a device without a
	 * link layer, whole IP packets; for a GSO packet, every header that
	 * each segment repeats, once per segment, a tunnel's inner ones too.
	 */
	__u64 bytes;
};

/*
 * One slot of the counters map: every counter of one interface. A receiver
 * gives each interface it counts a slot of its own, and the slots map leads
 * from the interface's index to it.
 */
struct slot_counters {
	struct counter dir[DIRECTION_COUNT][CLASS_COUNT];
};

/*
 * An entry of the slot index: the interface at this position, by index, and
 * its slot. ifindex 0 (no interface has it) marks a free position.
 */
struct slot_entry {
	__u32 ifindex;
	__u32 slot;
};

/*
 * Slot 0 serves no interface: it counts the packets of an interface that the
 * program runs on but the slots map does not know, which the receiver's
 * ordering of attach and detach never lets happen. User space reports it, so
 * that such packets are never lost silently.
 */
enum slot_layout {
	SLOT_UNATTRIBUTED = 0,
	/* Positions in the slot index: a power of two, 32 KiB. */
	SLOT_INDEX_SIZE = 4096,
};

#endif /* OTELCOL_XDP_COUNTER_H */
