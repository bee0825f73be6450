/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * Header parsing for the counter, in the shape of xdp-tutorial's parsing
 * helpers: a cursor walks the frame, and every parse function takes the
 * cursor, reads one header, moves the cursor past it and returns what the
 * header names next.
 *
 * Invariants:
 * - Nothing is read past the frame. A header in the linear part is read in
 *   place once (void *)(hdr + 1) <= end; anything else is read with
 *   load_bytes(), which fails outside the frame.
 * - A packet pointer only ever moves by constants. Moving it by a length
 *   read from the packet is allowed only to programs with CAP_PERFMON (the
 *   verifier's Spectre v1 masking cannot cover packet pointers), and the
 *   counter loads with CAP_BPF and CAP_NET_ADMIN alone. Headers at offsets
 *   that depend on the packet are read with load_bytes() at a scalar offset
 *   instead, except on the XDP variant for kernels before 5.18 (no
 *   bpf_xdp_load_bytes), which needs CAP_PERFMON.
 * - A frame cut short is classified by the deepest header it holds whole.
 */
#ifndef OTELCOL_XDP_PARSE_H
#define OTELCOL_XDP_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "counter.h"

/* Both 802.1Q and 802.1ad tags, in any order; a third tag is "other". */
#define VLAN_MAX_DEPTH 2

/* Extension headers walked before giving up on finding the transport. */
#define IPV6_EXT_MAX_DEPTH 6

/* The offset bits of a Fragment header's frag_off (RFC 8200, 4.5). */
#define IPV6_FRAG_OFFSET 0xfff8

struct vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/*
 * The first four bytes of every IPv6 extension header: next header and
 * length, and for a Fragment header its offset and flags.
 */
struct ipv6_ext_hdr {
	__u8 nexthdr;
	__u8 hdrlen;
	__be16 frag_off;
};

/* Where the parse is. pos and off name the same place. */
struct cursor {
	void *pos; /* the next header; valid while direct */
	void *end; /* the end of the linear part (data_end) */
	__u32 off; /* the next header's offset from the frame's start */
	__u32 len; /* the whole frame, every buffer included */
	/*
	 * The next header may be read in place at pos. Cleared once the walk
	 * moves by a length that is not a constant, or past the linear part:
	 * from then on only off is known, and headers are read with
	 * load_bytes().
	 */
	int direct;
};

/* What a frame is counted as, and where its transport header starts. */
struct class_info {
	__u32 net;       /* enum net_type */
	__u32 transport; /* enum transport */
};

/*
 * load_bytes copies len bytes at off into buf, from any buffer of the frame.
 * It is defined by the program that includes this file, for its hook.
 */
static __always_inline int load_bytes(void *ctx, __u32 off, void *buf, __u32 len);

static __always_inline int proto_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Moves the cursor past the Ethernet header and up to max_tags VLAN tags,
 * and returns the ethertype found there (network byte order), or 0 when the
 * frame ends before it. 0 is not a valid ethertype, so it classifies as
 * "other". Tags always sit in the linear part, at constant offsets.
 */
static __always_inline __be16 parse_ethhdr(struct cursor *c, int max_tags)
{
	struct ethhdr *eth = c->pos;
	struct vlan_hdr *vlh;
	__be16 proto;

	if ((void *)(eth + 1) > c->end)
		return 0;
	proto = eth->h_proto;
	vlh = (void *)(eth + 1);
	c->off = sizeof(*eth);

#pragma unroll
	for (int i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (!proto_is_vlan(proto))
			break;
		if (i >= max_tags || (void *)(vlh + 1) > c->end)
			return 0;
		proto = vlh->encap_proto;
		vlh++;
		c->off += sizeof(*vlh);
	}
	c->pos = vlh;
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
 * the whole header, options included (ihl), is inside the frame. Every
 * fragment carries the field, so a fragmented UDP datagram is UDP in every
 * fragment. The options are never read: their end is only checked against
 * the frame's length.
 */
static __always_inline __u32 parse_ipv4(struct cursor *c)
{
	struct iphdr *iph = c->pos;

	if ((void *)(iph + 1) > c->end)
		return TRANSPORT_NONE;
	if (iph->version != 4 || iph->ihl < 5)
		return TRANSPORT_NONE;
	/* Options are rare: a 20-byte header is whole once iph + 1 is. */
	if (iph->ihl > 5 && c->off + iph->ihl * 4 > c->len)
		return TRANSPORT_NONE;
	c->off += iph->ihl * 4;
	if (iph->ihl == 5)
		c->pos = iph + 1;
	else
		c->direct = 0;
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

/* The length of an extension header, from its type and its length field. */
static __always_inline __u32 ipv6_ext_len(__u8 type, __u8 hdrlen)
{
	if (type == IPPROTO_FRAGMENT)
		return 8;
	if (type == IPPROTO_AH)
		return ((__u32)hdrlen + 2) * 4;
	return ((__u32)hdrlen + 1) * 8;
}

/*
 * Reads the first four bytes of the extension header at the cursor: in
 * place while the walk is direct and they are in the linear part, else with
 * load_bytes(). Returns non-zero when the frame ends first.
 */
static __always_inline int read_ext(void *ctx, struct cursor *c, struct ipv6_ext_hdr *h)
{
	struct ipv6_ext_hdr *p = c->pos;

	if (c->direct) {
		if ((void *)(p + 1) <= c->end) {
			*h = *p;
			return 0;
		}
		c->direct = 0; /* past the linear part: the rest may be in frags */
	}
	return load_bytes(ctx, c->off, h, sizeof(*h));
}

/*
 * Moves the cursor past an extension header of n bytes. The pointer moves
 * only by the constants of the common lengths, each in a branch of its own,
 * so that the compiler cannot turn them into an addition of n; any other
 * length ends the direct walk.
 */
static __always_inline void skip_ext(struct cursor *c, __u32 n)
{
	c->off += n;
	if (!c->direct)
		return;
	if (n == 8)
		c->pos += 8;
	else if (n == 16)
		c->pos += 16;
	else if (n == 24)
		c->pos += 24;
	else
		c->direct = 0;
}

/*
 * The transport of an IPv6 packet is the first next-header value that is not
 * an extension header, trusted only once every header before it is whole.
 *
 * A non-first fragment (a Fragment header with a non-zero offset) carries
 * the middle of its datagram: what follows the Fragment header is payload,
 * never a header. The walk stops there, and the transport is what the
 * Fragment header names: the upper-layer protocol when the headers that
 * precede it in the datagram name one directly (the common case), unknown
 * (none) when it names another extension header, which only the first
 * fragment holds.
 */
static __always_inline __u32 parse_ipv6(void *ctx, struct cursor *c)
{
	struct ipv6hdr *ip6h = c->pos;
	struct ipv6_ext_hdr h;
	__u8 nexthdr;

	if ((void *)(ip6h + 1) > c->end)
		return TRANSPORT_NONE;
	if (ip6h->version != 6)
		return TRANSPORT_NONE;
	nexthdr = ip6h->nexthdr;
	c->pos = ip6h + 1;
	c->off += sizeof(*ip6h);

#pragma unroll
	for (int i = 0; i < IPV6_EXT_MAX_DEPTH; i++) {
		if (!ipv6_is_ext(nexthdr))
			break;
		if (read_ext(ctx, c, &h))
			return TRANSPORT_NONE;
		if (nexthdr == IPPROTO_FRAGMENT && (h.frag_off & bpf_htons(IPV6_FRAG_OFFSET))) {
			if (c->off + 8 > c->len)
				return TRANSPORT_NONE;
			c->off += 8;
			c->direct = 0; /* the payload: nothing to read there */
			if (ipv6_is_ext(h.nexthdr) || h.nexthdr == IPPROTO_NONE)
				return TRANSPORT_NONE;
			return transport_of(h.nexthdr, 1);
		}
		skip_ext(c, ipv6_ext_len(nexthdr, h.hdrlen));
		if (c->off > c->len)
			return TRANSPORT_NONE;
		nexthdr = h.nexthdr;
	}
	/* Still an extension header: deeper than we walk, unidentified. */
	if (ipv6_is_ext(nexthdr) || nexthdr == IPPROTO_NONE)
		return TRANSPORT_NONE;
	return transport_of(nexthdr, 1);
}

/*
 * Classifies the frame under the cursor, which starts at its Ethernet
 * header. max_tags is how many VLAN tags may still be in the frame: TC sees
 * the outer tag already taken off into the skb.
 */
static __always_inline struct class_info classify(void *ctx, struct cursor *c, int max_tags)
{
	struct class_info ci = {.net = NET_TYPE_OTHER, .transport = TRANSPORT_NONE};

	switch (parse_ethhdr(c, max_tags)) {
	case bpf_htons(ETH_P_IP):
		ci.net = NET_TYPE_IPV4;
		ci.transport = parse_ipv4(c);
		break;
	case bpf_htons(ETH_P_IPV6):
		ci.net = NET_TYPE_IPV6;
		ci.transport = parse_ipv6(ctx, c);
		break;
	case bpf_htons(ETH_P_ARP):
		ci.net = NET_TYPE_ARP;
		break;
	}
	return ci;
}

#endif /* OTELCOL_XDP_PARSE_H */
