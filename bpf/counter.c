// SPDX-License-Identifier: (MIT OR GPL-2.0-only)

//go:build ignore

/*
 * The counter: one program per hook, all counting into one per-CPU map.
 *
 *   xdp_count         XDP, receive: on NICs whose driver runs XDP natively.
 *   xdp_count_linear  the same, for kernels before 5.18 (no frags).
 *   tc_count_rx       TC ingress (TCX or clsact), receive: everywhere else.
 *   tc_count_tx       TC egress (TCX or clsact), transmit.
 *
 * A receiver loads them once and attaches them to all its interfaces. Each
 * interface has a slot in the counters map, which holds its counters of both
 * directions; the slots map leads from the interface's index to its slot.
 *
 * Invariants:
 * - Every packet is counted exactly once, in exactly one class of one slot,
 *   and every program passes every packet on: XDP_PASS, TC_ACT_UNSPEC (the
 *   next program or filter, or the default action, decides).
 * - A packet is what the wire carries. At TC a GSO packet counts as its
 *   segments, and its bytes as the segments carry them: the headers once per
 *   segment. A VLAN tag the device took off (or will put on) counts too.
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

/*
 * Per-CPU, so the hot path needs no atomics; indexed by slot and class, so
 * no hashing. The loader sets max_entries to the receiver's capacity plus
 * one (slot 0).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slot_counters);
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

static __always_inline void count(__u32 slot, enum direction dir, __u32 class, __u64 packets, __u64 bytes)
{
	struct slot_counters *s;
	struct counter *c;

	if (class >= CLASS_COUNT) /* unreachable: class_of() of enums' values */
		return;
	s = bpf_map_lookup_elem(&counters, &slot);
	if (!s) /* unreachable: slots map only to slots below max_entries */
		return;
	c = &s->dir[dir][class];
	c->packets += packets;
	c->bytes += bytes;
}

static __always_inline int xdp_count_frame(struct xdp_md *ctx, enum hook hook, __u32 len)
{
	struct cursor c = {
		.ctx = ctx,
		.hook = hook,
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
		.len = len,
	};
	__u32 class = class_of(classify(&c));

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
	return xdp_count_frame(ctx, HOOK_XDP, bpf_xdp_get_buff_len(ctx));
}

/*
 * For kernels before 5.18, which the loader gives this one instead: a frame
 * has one buffer, and the program needs CAP_PERFMON (parse.h, read_ext).
 */
SEC("xdp")
int xdp_count_linear(struct xdp_md *ctx)
{
	return xdp_count_frame(ctx, HOOK_XDP_LINEAR, ctx->data_end - ctx->data);
}

/*
 * The length of the headers that every segment of a GSO packet repeats: up
 * to and including the transport header, whose length only TCP varies.
 */
static __always_inline __u32 gso_header_len(struct __sk_buff *skb, __u32 transport, __u32 l4)
{
	struct {
		__u8 ignored[12];
		__u8 doff; /* data offset, in its upper four bits */
	} tcp;

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

static __always_inline int tc_count(struct __sk_buff *skb, enum direction dir)
{
	struct cursor c = {
		.ctx = skb,
		.hook = HOOK_TC,
		.pos = (void *)(long)skb->data,
		.end = (void *)(long)skb->data_end,
		.len = skb->len,
	};
	struct class_info ci = classify(&c);
	__u32 tag, class, l4;
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
	bytes = skb->len + tag;

	if (skb->gso_size) {
		__u32 hdr = gso_header_len(skb, class % TRANSPORT_COUNT, l4);

		segs = skb->gso_segs;
		if (!segs && skb->len > hdr) /* untrusted GSO (SKB_GSO_DODGY) */
			segs = (skb->len - hdr + skb->gso_size - 1) / skb->gso_size;
		if (segs > 1)
			bytes += (segs - 1) * (hdr + tag);
		else
			segs = 1;
	}
	count(slot_of(skb->ifindex), dir, class, segs, bytes);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int tc_count_rx(struct __sk_buff *skb)
{
	return tc_count(skb, DIRECTION_RECEIVE);
}

SEC("tc")
int tc_count_tx(struct __sk_buff *skb)
{
	return tc_count(skb, DIRECTION_TRANSMIT);
}
