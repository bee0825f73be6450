/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * The one definition of everything the XDP counter shares with user space.
 * bpf2go turns these types into Go (-type), so the Go side never mirrors them
 * by hand: change a type here, run `make generate`, and both sides follow.
 */
#ifndef OTELCOL_XDP_COUNTER_H
#define OTELCOL_XDP_COUNTER_H

#include <linux/types.h>

/* network.type: what the (possibly VLAN-tagged) ethertype says. */
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
 * A class is the index into the counters map:
 *   class = net_type * TRANSPORT_COUNT + transport
 * so every (net_type, transport) pair has exactly one slot and the map needs
 * no hashing on the hot path.
 */
enum class_layout {
	CLASS_COUNT = NET_TYPE_COUNT * TRANSPORT_COUNT,
};

/*
 * One slot of the per-CPU counters map. Both fields only ever grow: user
 * space never writes or clears them, it turns successive reads into deltas.
 */
struct counter {
	__u64 packets;
	__u64 bytes; /* whole frame as XDP sees it, every fragment included */
};

#endif /* OTELCOL_XDP_COUNTER_H */
