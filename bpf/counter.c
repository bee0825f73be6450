// SPDX-License-Identifier: (MIT OR GPL-2.0-only)

//go:build ignore

/*
 * xdp_count: counts every frame that arrives on an interface, by class, and
 * passes it on untouched.
 *
 * Invariants:
 * - Every frame is counted exactly once, in exactly one class, and the
 *   program returns XDP_PASS on every path.
 * - Nothing is read past data_end: every header is bounds-checked before it
 *   is read, and a frame cut short is counted in the deepest class reached.
 * - The counters only grow. User space reads them and never writes them.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "counter.h"

char __license[] SEC("license") = "Dual MIT/GPL";

/*
 * BTF carries only the types that something in the object uses. These keep
 * the class enums in it, for bpf2go to turn into Go; no program reads them.
 */
const enum net_type *unused_net_type __attribute__((unused));
const enum transport *unused_transport __attribute__((unused));

/* Per-CPU, so the hot path needs no atomics; indexed by class, so no hashing. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CLASS_COUNT);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

/*
 * True when the program was loaded with BPF_F_XDP_HAS_FRAGS (Linux 5.18+), so
 * a frame may span several buffers and only bpf_xdp_get_buff_len() knows its
 * full length. The loader clears it on older kernels, where the verifier then
 * prunes every branch that depends on it as dead code, helper calls included.
 *
 * It also decides how headers at variable offsets are read. With frags,
 * bpf_xdp_load_bytes() reads them at a scalar offset; moving a packet pointer
 * by a length read from the packet instead is allowed only to programs with
 * CAP_PERFMON (the verifier's Spectre v1 masking cannot cover packet
 * pointers), so on 5.18+ the program loads with CAP_BPF and CAP_NET_ADMIN
 * alone. Before 5.18 the pointer arithmetic, and CAP_PERFMON, remain.
 */
volatile const __u8 frags_aware = 1;

/* Both 802.1Q and 802.1ad tags, in any order; a third tag is "other". */
#define VLAN_MAX_DEPTH 2

/* Extension headers walked before giving up on finding the transport. */
#define IPV6_EXT_MAX_DEPTH 6

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* The whole frame's length, every buffer of a multi-buffer frame included. */
static __always_inline __u32 frame_len(struct xdp_md *ctx)
{
	if (frags_aware)
		return bpf_xdp_get_buff_len(ctx);
	return ctx->data_end - ctx->data;
}

static __always_inline int proto_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Moves *pos past the Ethernet header and up to VLAN_MAX_DEPTH tags, sets
 * *off to the same place as an offset from the frame's start, and returns the
 * ethertype found there (network byte order), or 0 when the frame ends
 * before it. 0 is not a valid ethertype, so it classifies as "other".
 */
static __always_inline __be16 parse_ethhdr(void **pos, __u32 *off, void *data_end)
{
	struct ethhdr *eth = *pos;
	struct vlan_hdr *vlh;
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return 0;
	proto = eth->h_proto;
	vlh = (void *)(eth + 1);
	*off = sizeof(*eth);

#pragma unroll
	for (int i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (!proto_is_vlan(proto))
			break;
		if ((void *)(vlh + 1) > data_end)
			return 0;
		proto = vlh->encap_proto;
		vlh++;
		*off += sizeof(*vlh);
	}
	*pos = vlh;
	return proto;
}

static __always_inline __u32 transport_of(__u8 proto, int is_ipv6)
{
	switch (proto) {
	case IPPROTO_TCP:
		return TRANSPORT_TCP;
	case IPPROTO_UDP:
		return TRANSPORT_UDP;
	case IPPROTO_ICMP:
		return is_ipv6 ? TRANSPORT_OTHER : TRANSPORT_ICMP;
	case IPPROTO_ICMPV6:
		return is_ipv6 ? TRANSPORT_ICMP : TRANSPORT_OTHER;
	default:
		return TRANSPORT_OTHER;
	}
}

/*
 * The transport of an IPv4 packet is its protocol field, trusted only once
 * the whole header, options included (ihl), is inside the frame. Fragments
 * count under their datagram's protocol, so a fragmented UDP datagram is UDP
 * in every fragment. The fixed header is read in place at pos; the options'
 * end is checked against the frame length, at off.
 */
static __always_inline __u32 parse_ipv4(void *pos, __u32 off, __u32 len, void *data_end)
{
	struct iphdr *iph = pos;

	if ((void *)(iph + 1) > data_end)
		return TRANSPORT_NONE;
	if (iph->version != 4 || iph->ihl < 5)
		return TRANSPORT_NONE;
	/* Options are rare: a 20-byte header is whole once iph + 1 is. */
	if (iph->ihl > 5 && off + iph->ihl * 4 > len)
		return TRANSPORT_NONE;
	return transport_of(iph->protocol, 0);
}

static __always_inline int ipv6_is_ext(__u8 nexthdr)
{
	switch (nexthdr) {
	case IPPROTO_HOPOPTS:
	case IPPROTO_ROUTING:
	case IPPROTO_FRAGMENT:
	case IPPROTO_AH:
	case IPPROTO_DSTOPTS:
		return 1;
	default:
		return 0;
	}
}

/* Reads the first two bytes (next header, length) of the header at off. */
static __always_inline int load_opt(struct xdp_md *ctx, __u32 off, struct ipv6_opt_hdr *opt)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ipv6_opt_hdr *p;

	if (frags_aware)
		return bpf_xdp_load_bytes(ctx, off, opt, sizeof(*opt));
	p = data + off;
	if ((void *)(p + 1) > data_end)
		return -1;
	*opt = *p;
	return 0;
}

/*
 * The transport of an IPv6 packet is the first next-header value that is not
 * an extension header, trusted only once every header before it is whole.
 * Non-first fragments name their datagram's protocol too. Extension headers
 * are rare, so only they pay for reading at a variable offset.
 */
static __always_inline __u32 parse_ipv6(struct xdp_md *ctx, void *pos, __u32 off, __u32 len, void *data_end)
{
	struct ipv6hdr *ip6h = pos;
	struct ipv6_opt_hdr opt;
	__u8 nexthdr;

	if ((void *)(ip6h + 1) > data_end)
		return TRANSPORT_NONE;
	if (ip6h->version != 6)
		return TRANSPORT_NONE;
	nexthdr = ip6h->nexthdr;
	off += sizeof(*ip6h);

#pragma unroll
	for (int i = 0; i < IPV6_EXT_MAX_DEPTH; i++) {
		if (!ipv6_is_ext(nexthdr))
			break;
		if (load_opt(ctx, off, &opt))
			return TRANSPORT_NONE;
		if (nexthdr == IPPROTO_FRAGMENT)
			off += 8;
		else if (nexthdr == IPPROTO_AH)
			off += ((__u32)opt.hdrlen + 2) * 4;
		else
			off += ((__u32)opt.hdrlen + 1) * 8;
		if (off > len)
			return TRANSPORT_NONE;
		nexthdr = opt.nexthdr;
	}
	/* Still an extension header: deeper than we walk, unidentified. */
	if (ipv6_is_ext(nexthdr) || nexthdr == IPPROTO_NONE)
		return TRANSPORT_NONE;
	return transport_of(nexthdr, 1);
}

SEC("xdp.frags")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 len = frame_len(ctx);
	void *pos = data;
	__u32 off = 0;
	__u32 net = NET_TYPE_OTHER;
	__u32 transport = TRANSPORT_NONE;
	struct counter *c;
	__u32 key;

	switch (parse_ethhdr(&pos, &off, data_end)) {
	case bpf_htons(ETH_P_IP):
		net = NET_TYPE_IPV4;
		transport = parse_ipv4(pos, off, len, data_end);
		break;
	case bpf_htons(ETH_P_IPV6):
		net = NET_TYPE_IPV6;
		transport = parse_ipv6(ctx, pos, off, len, data_end);
		break;
	case bpf_htons(ETH_P_ARP):
		net = NET_TYPE_ARP;
		break;
	}

	key = net * TRANSPORT_COUNT + transport;
	c = bpf_map_lookup_elem(&counters, &key);
	if (!c) /* unreachable: key < CLASS_COUNT by construction */
		return XDP_PASS;
	c->packets++;
	c->bytes += len;
	return XDP_PASS;
}
