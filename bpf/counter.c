// SPDX-License-Identifier: (MIT OR GPL-2.0-only)

//go:build ignore

/*
 * The counter: one program per hook and kind of link, all counting into one
 * per-CPU map.
 *
 *   xdp_count         XDP, receive: on NICs whose driver runs XDP natively.
 *   xdp_count_linear  the same, for kernels before 5.18 (no frags).
 *   tc_count_rx       TC ingress (TCX or clsact), receive: everywhere else.
 *   tc_count_tx       TC egress (TCX or clsact), transmit.
 *
 * and the same four with _l3 for devices without a link layer, whose
 * packets start at the IP header (enum link, parse.h): the loader picks them
 * by the interface's hardware type.
 *
 * A receiver loads them once and attaches them to all its interfaces. Each
 * interface has a slot in the counters map, which holds its counters of both
 * directions; the slots map leads from the interface's index to its slot.
 *
 * Invariants:
 * - Every packet is counted exactly once, in exactly one class of one slot,
 *   and every program passes every packet on: XDP_PASS, TC_ACT_UNSPEC (the
 *   next program or filter, or the default action, decides).
 * - A packet is what the wire carries: the whole frame, from the Ethernet
 *   header on, or the IP packet on a device without a link layer. At TC a
 *   GSO packet counts as its segments, and its bytes as the segments carry
 *   them: every header that each segment repeats, once per segment, the
 *   inner headers of a tunnel (VXLAN, Geneve, GRE, IPIP, SIT) included. A
 *   VLAN tag the device took off (or will put on) counts too.
 * - Nothing is read past the packet (parse.h).
 * - A slot's counters only grow while it serves an interface. User space
 *   reads them, and clears a slot only before it serves another interface.
 */
#include "parse.h"

char __license[] SEC("license") = "Dual MIT/GPL";

/*
 * BTF carries only the types that something in the object uses. These keep
 * the shared enums in it, for bpf2go to turn into Go; no program reads them.
 */
const enum net_type *unused_net_type __attribute__((unused));
const enum transport *unused_transport __attribute__((unused));
const enum direction *unused_direction __attribute__((unused));
const enum slot_layout *unused_slot_layout __attribute__((unused));

#ifdef BENCH_LEARN
/*
 * The design alternative that make bench measures beside tc_count_rx
 * (issue 17; bpf/internal/baseline compiles it): learning a pod's address
 * from the packets the pod sends, which the host end of its veth receives,
 * for CNIs that leave the host no route or bridge entry of the pod. Each
 * slot's value, per CPU, holds beside its counters the last source address
 * of each IP version that can be a pod's own (learn_ipv4, learn_ipv6,
 * parse.h), for user space to read with the counters.
 */
struct learning_slot {
	struct slot_counters counters; /* first: count_in() takes it for one */
	struct learned_source source;
};
#define SLOT_VALUE struct learning_slot
#else
#define SLOT_VALUE struct slot_counters
#endif

/*
 * Per-CPU, so the hot path needs no atomics; indexed by slot and class, so
 * no hashing. The loader sets max_entries to the receiver's capacity plus
 * one (slot 0).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, SLOT_VALUE);
} counters SEC(".maps");

/*
 * Interface index to slot, for every interface a receiver counts: in
 * slot_index at position ifindex % SLOT_INDEX_SIZE, or, where another
 * interface holds that position, in the slots hash. User space adds an
 * interface's entry before it attaches anything to it, and deletes it after
 * it detached everything, so a program never runs on an interface without
 * one.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLOT_INDEX_SIZE);
	__type(key, __u32);
	__type(value, struct slot_entry);
} slot_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} slots SEC(".maps");

/* The TC programs' verdict: no opinion, the next program decides. */
#define TC_ACT_UNSPEC (-1)

/*
 * The slot of the interface with index ifindex, or slot 0 without one.
 *
 * Most interfaces are found in slot_index at ifindex modulo its size: an
 * array lookup, which the verifier inlines, and a compare. The few whose
 * position another interface holds are found in the slots hash. User space
 * writes a position only while no program runs for its new interface, and
 * each field whole, so a reader sees either interface's index, never a mix
 * that matches its own.
 */
static __always_inline __u32 slot_of(__u32 ifindex)
{
#ifdef BENCH_SLOT
	/*
	 * The design alternative that make bench measures beside this one: a
	 * copy of the program per interface, its slot a load-time constant
	 * (bpf/internal/baseline compiles it).
	 */
	return BENCH_SLOT;
#endif
	__u32 pos = ifindex & (SLOT_INDEX_SIZE - 1);
	struct slot_entry *e = bpf_map_lookup_elem(&slot_index, &pos);
	__u32 *slot;

	if (e && e->ifindex == ifindex)
		return e->slot;
	slot = bpf_map_lookup_elem(&slots, &ifindex);
	return slot ? *slot : SLOT_UNATTRIBUTED;
}

/*
 * The class of ci, as a value the verifier cannot tell apart by path
 * (unknown_zero, parse.h): count() indexes the slot by it, and what follows
 * the parse is verified once.
 */
static __always_inline __u32 class_of(struct class_info ci)
{
	return (ci.net * TRANSPORT_COUNT + ci.transport + unknown_zero) & 0x1f;
}

/* Counts in s, the slot's counters on this CPU. */
static __always_inline void count_in(struct slot_counters *s, enum direction dir, __u32 class, __u64 packets,
				     __u64 bytes)
{
	struct counter *c;

	if (!s) /* unreachable: slots map only to slots below max_entries */
		return;
	c = &s->dir[dir][class];
	c->packets += packets;
	c->bytes += bytes;
}

static __always_inline void count(__u32 slot, enum direction dir, __u32 class, __u64 packets, __u64 bytes)
{
	if (class >= CLASS_COUNT) /* unreachable: class_of() of enums' values */
		return;
	count_in(bpf_map_lookup_elem(&counters, &slot), dir, class, packets, bytes);
}

static __always_inline int xdp_count_frame(struct xdp_md *ctx, enum hook hook, enum link link, __u32 len)
{
	struct cursor c = {
		.ctx = ctx,
		.hook = hook,
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
		.len = len,
	};
	__u32 class = class_of(classify(&c, link));

	count(slot_of(ctx->ingress_ifindex), DIRECTION_RECEIVE, class, 1, len);
	return XDP_PASS;
}

/*
 * Loaded with BPF_F_XDP_HAS_FRAGS (Linux 5.18+): a frame may span several
 * buffers, and bpf_xdp_get_buff_len() gives its whole length.
 */
SEC("xdp.frags")
int xdp_count(struct xdp_md *ctx)
{
	return xdp_count_frame(ctx, HOOK_XDP, LINK_ETHERNET, bpf_xdp_get_buff_len(ctx));
}

/*
 * For kernels before 5.18, which the loader gives this one instead: a frame
 * has one buffer, and the program needs CAP_PERFMON (parse.h, read_ext).
 */
SEC("xdp")
int xdp_count_linear(struct xdp_md *ctx)
{
	return xdp_count_frame(ctx, HOOK_XDP_LINEAR, LINK_ETHERNET, ctx->data_end - ctx->data);
}

/* The same two for devices without a link layer. */
SEC("xdp.frags")
int xdp_count_l3(struct xdp_md *ctx)
{
	return xdp_count_frame(ctx, HOOK_XDP, LINK_IP, bpf_xdp_get_buff_len(ctx));
}

SEC("xdp")
int xdp_count_l3_linear(struct xdp_md *ctx)
{
	return xdp_count_frame(ctx, HOOK_XDP_LINEAR, LINK_IP, ctx->data_end - ctx->data);
}

/* Ethertypes of what a GRE or Geneve header carries. */
#define ETH_P_TEB 0x6558 /* transparent Ethernet bridging: an Ethernet frame */

/*
 * The end of the TCP or UDP header of the IP packet at off, which the
 * ethertype proto (host order) says is IPv4 or IPv6, or 0 when the packet
 * is anything else or ends first. IPv6 extension headers are not walked:
 * a tunnel's inner packet that has them is not recognized.
 */
static __always_inline __u32 inner_transport_end(struct __sk_buff *skb, __u32 off, __u32 proto)
{
	struct {
		__u8 ignored[12];
		__u8 doff; /* data offset, in its upper four bits */
	} tcp;
	__u8 l4;

	if (proto == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)) || ip.version != 4 || ip.ihl < 5)
			return 0;
		off += ip.ihl * 4;
		l4 = ip.protocol;
	} else if (proto == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)) || ip6.version != 6)
			return 0;
		off += sizeof(ip6);
		l4 = ip6.nexthdr;
	} else {
		return 0;
	}
	if (l4 == IPPROTO_UDP)
		return off + 8;
	if (l4 != IPPROTO_TCP || bpf_skb_load_bytes(skb, off, &tcp, sizeof(tcp)) || tcp.doff < 5 << 4)
		return 0;
	return off + (tcp.doff >> 4) * 4;
}

/*
 * The same for an inner Ethernet frame at off, as VXLAN, Geneve and
 * gretap carry: untagged, IPv4 or IPv6.
 */
static __always_inline __u32 inner_frame_end(struct __sk_buff *skb, __u32 off)
{
	__be16 proto;

	if (bpf_skb_load_bytes(skb, off + 12, &proto, sizeof(proto)))
		return 0;
	return inner_transport_end(skb, off + sizeof(struct ethhdr), bpf_ntohs(proto));
}

/*
 * The end of the inner transport header of a tunnel packet whose outer
 * transport header, of IP protocol proto, is at off; 0 when it is no
 * tunnel this recognizes. Tunnels are told by their headers, not by
 * ports, which every overlay configures its own way:
 *
 * - IPIP and SIT (IPv4 or IPv6 in IP): the inner IP header is at off.
 * - GRE, version 0, without routing: its header (4 bytes, and 4 more for
 *   each of checksum, key and sequence number) carries IPv4, IPv6 or an
 *   Ethernet frame (gretap).
 * - Geneve over UDP: version 0, options of the length it says, then the
 *   protocol it names: an Ethernet frame, IPv4 or IPv6.
 * - VXLAN over UDP: the I flag set and no other flag but GBP's, then an
 *   Ethernet frame. Its reserved protocol bytes are 0 (or GBP's policy),
 *   where Geneve's name a protocol, which tells the two apart.
 *
 * A UDP GSO packet that is no tunnel (UDP_SEGMENT) would have to carry, in
 * its payload, both such a header and an inner Ethernet, IP and transport
 * header to be taken for one.
 */
static __always_inline __u32 tunnel_header_end(struct __sk_buff *skb, __u32 proto, __u32 off)
{
	struct {
		__u8 b0;
		__u8 b1;
		__be16 proto;
	} h;
	__u32 n;

	switch (proto) {
	case IPPROTO_IPIP:
		return inner_transport_end(skb, off, ETH_P_IP);
	case IPPROTO_IPV6:
		return inner_transport_end(skb, off, ETH_P_IPV6);
	case IPPROTO_GRE:
		if (bpf_skb_load_bytes(skb, off, &h, sizeof(h)) || h.b1 & 0x07 || h.b0 & 0x40)
			return 0;
		n = 4 + (h.b0 >> 7) * 4 + (h.b0 >> 5 & 1) * 4 + (h.b0 >> 4 & 1) * 4;
		if (h.proto == bpf_htons(ETH_P_TEB))
			return inner_frame_end(skb, off + n);
		return inner_transport_end(skb, off + n, bpf_ntohs(h.proto));
	case IPPROTO_UDP:
		off += 8; /* the UDP header */
		if (bpf_skb_load_bytes(skb, off, &h, sizeof(h)))
			return 0;
		if (h.b0 >> 6 == 0 && (h.proto == bpf_htons(ETH_P_TEB) || h.proto == bpf_htons(ETH_P_IP) ||
				       h.proto == bpf_htons(ETH_P_IPV6))) {
			n = 8 + (h.b0 & 0x3f) * 4; /* Geneve */
			if (h.proto == bpf_htons(ETH_P_TEB))
				return inner_frame_end(skb, off + n);
			return inner_transport_end(skb, off + n, bpf_ntohs(h.proto));
		}
		if ((h.b0 & 0x7f) == 0x08 && (h.b0 & 0x80 || !h.proto)) /* VXLAN */
			return inner_frame_end(skb, off + 8);
		return 0;
	default:
		return 0;
	}
}

/*
 * The length of the headers that every segment of a GSO packet repeats:
 * up to and including the transport header behind which the payload is
 * cut, whose length only TCP varies. For a tunnel that is the inner one:
 * every segment repeats the outer headers, the tunnel's and the inner
 * packet's. transport and proto are the outer transport's class and IP
 * protocol, l4 its offset.
 *
 * The kernel computes this too (qdisc_pkt_len_init), but a program sees it
 * only at egress, as wire_len, and with a tunnel's inner headers only on
 * recent kernels (6.18 has them); at ingress, TCX and clsact alike,
 * wire_len is skb->len less the Ethernet header, whatever the segments.
 * So both directions count it here, the same way on every kernel.
 */
static __always_inline __u32 gso_header_len(struct __sk_buff *skb, __u32 transport, __u32 proto, __u32 l4)
{
	struct {
		__u8 ignored[12];
		__u8 doff; /* data offset, in its upper four bits */
	} tcp;
	__u32 end;

	end = tunnel_header_end(skb, proto, l4);
	if (end && end < skb->len)
		return end;
	switch (transport) {
	case TRANSPORT_TCP:
		if (bpf_skb_load_bytes(skb, l4, &tcp, sizeof(tcp)))
			return l4;
		return l4 + (tcp.doff >> 4) * 4;
	case TRANSPORT_UDP:
		return l4 + 8;
	default:
		return l4;
	}
}

static __always_inline int tc_count(struct __sk_buff *skb, enum direction dir, enum link link)
{
#ifdef BENCH_LEARN
	/*
	 * The slot first, so that the parse learns the address where it
	 * reads it, and carries nothing past the parse: what the host end of
	 * a pod's veth receives, the pod sent.
	 */
	__u32 slot = slot_of(skb->ifindex);
	struct learning_slot *s = bpf_map_lookup_elem(&counters, &slot);
#endif
	struct cursor c = {
		.ctx = skb,
		.hook = HOOK_TC,
		.pos = (void *)(long)skb->data,
		.end = (void *)(long)skb->data_end,
		.len = skb->len,
#ifdef BENCH_LEARN
		.learned = s && dir == DIRECTION_RECEIVE ? &s->source : 0,
#endif
	};
	struct class_info ci = classify(&c, link);
	__u32 tag, class, l4, proto;
	__u64 segs = 1, bytes;

	/*
	 * A tag the device took off (receive) or will put on (transmit) is not
	 * in the data, but it is on the wire: it is one of the two tags a frame
	 * may have, and four bytes of every segment. Read after the parse, so
	 * that the parse is verified once, not once with a tag and once without.
	 */
	tag = skb->vlan_present ? 4 : 0;
	if (tag && c.tags == VLAN_MAX_DEPTH) /* a third tag: "other" */
		ci = (struct class_info){.net = NET_TYPE_OTHER, .transport = TRANSPORT_NONE};
	/* From here on, one state for every path through the parse. */
	class = class_of(ci);
	l4 = c.off + unknown_zero;
	proto = (c.proto + unknown_zero) & 0xff;
	bytes = skb->len + tag;

	if (skb->gso_size) {
		__u32 hdr = gso_header_len(skb, class % TRANSPORT_COUNT, proto, l4);

		segs = skb->gso_segs;
		if (!segs && skb->len > hdr) /* untrusted GSO (SKB_GSO_DODGY) */
			segs = (skb->len - hdr + skb->gso_size - 1) / skb->gso_size;
		if (segs > 1)
			bytes += (segs - 1) * (hdr + tag);
		else
			segs = 1;
	}
#ifdef BENCH_LEARN
	if (class < CLASS_COUNT) /* always, as in count() */
		count_in(&s->counters, dir, class, segs, bytes);
#else
	count(slot_of(skb->ifindex), dir, class, segs, bytes);
#endif
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tc_count_rx(struct __sk_buff *skb)
{
	return tc_count(skb, DIRECTION_RECEIVE, LINK_ETHERNET);
}

SEC("tc")
int tc_count_tx(struct __sk_buff *skb)
{
	return tc_count(skb, DIRECTION_TRANSMIT, LINK_ETHERNET);
}

SEC("tc")
int tc_count_rx_l3(struct __sk_buff *skb)
{
	return tc_count(skb, DIRECTION_RECEIVE, LINK_IP);
}

SEC("tc")
int tc_count_tx_l3(struct __sk_buff *skb)
{
	return tc_count(skb, DIRECTION_TRANSMIT, LINK_IP);
}
