/* SPDX-License-Identifier: (MIT OR GPL-2.0-only) */
/*
 * Header parsing for the counter, in the shape of xdp-tutorial's parsing
 * helpers: a cursor walks the frame, and every parse function takes the
 * cursor, reads one header, moves the cursor past it and returns what the
 * header names next.
 *
 * A frame starts with an Ethernet header, or, on a device without a link
 * layer (enum link), with its IP header.
 *
 * Invariants:
 * - Nothing is read past the frame. A fixed header is read in place once
 *   (void *)(hdr + 1) <= end; extension headers are read from a copy of the
 *   frame, which load_window() makes with a helper that fails outside it.
 * - A packet pointer only ever moves by constants. Moving it by a length
 *   read from the packet is allowed only to programs with CAP_PERFMON (the
 *   verifier's Spectre v1 masking cannot cover packet pointers), and the
 *   counter loads with CAP_BPF and CAP_NET_ADMIN alone. The XDP variant for
 *   kernels before 5.18, which have no bpf_xdp_load_bytes, is the exception
 *   and needs CAP_PERFMON.
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

/*
 * Extension headers read in place, at constant offsets, before the walk
 * goes on through a copy (walk_ipv6_exts): the chains seen in practice
 * hold one or two.
 */
#define IPV6_EXT_IN_PLACE 2

/*
 * How many bytes of extension headers one copy holds: enough for the chains
 * seen in practice (hop-by-hop, destination options, routing, fragment, AH
 * of up to 64 bytes in all). A longer chain takes another copy.
 */
#define EXT_WINDOW 64

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

/*
 * Which program parses: a literal in each, so that the compiler folds every
 * branch on it and each program holds only its own reads.
 */
enum hook {
	HOOK_XDP,        /* frags-aware XDP: bpf_xdp_load_bytes (Linux 5.18+) */
	HOOK_XDP_LINEAR, /* XDP without frags: reads in place (CAP_PERFMON) */
	HOOK_TC,         /* bpf_skb_load_bytes */
};

/*
 * What the first header of a frame is, on the interface that the program
 * counts: a literal in each program, like enum hook, chosen by the loader
 * from the interface's hardware type (ARPHRD_*), so that the choice costs
 * no packet anything.
 */
enum link {
	LINK_ETHERNET, /* an Ethernet header: ether, loopback */
	/*
	 * The IP header: devices without a link layer (tun, WireGuard, ipip,
	 * sit, ip6tnl, gre, ppp, raw-IP modems). Which IP header, TC learns
	 * from skb->protocol; XDP, which has no protocol, from the version
	 * nibble.
	 */
	LINK_IP,
};

/*
 * The source addresses of the packets a pod sent, learnt by the variant of
 * the counter that make bench measures (counter.c, BENCH_LEARN), as the
 * packets carry them; zero: none yet.
 */
struct learned_source {
	__be32 ipv4;
	__u32 unused;
	__u64 ipv6[2];
};

/* Where the parse is. pos and off name the same place. */
struct cursor {
	void *ctx;      /* the program's context: xdp_md or __sk_buff */
	enum hook hook; /* what ctx is */
	void *pos;      /* the next fixed header, in the linear part */
	void *end;      /* the end of the linear part (data_end) */
	__u32 off;      /* the next header's offset from the frame's start */
	__u32 len;      /* the whole frame, every buffer included */
	__u32 tags;     /* VLAN tags in the frame's data */
	/*
	 * The IP protocol that the transport header at off has: set where the
	 * IP header names it directly, 0 behind IPv6 extension headers.
	 * Tunnelled GSO packets are told by it (counter.c).
	 */
	__u32 proto;
	/*
	 * Where the parse learns the packet's source address, or NULL: always
	 * NULL (a literal) in the counter, so that the compiler drops every
	 * read of the address (BENCH_LEARN, counter.c).
	 */
	struct learned_source *learned;
};

/* What a frame is counted as. */
struct class_info {
	__u32 net;       /* enum net_type */
	__u32 transport; /* enum transport */
};

/*
 * A copy of up to EXT_WINDOW bytes of the frame, from off on. Per-CPU: a
 * program runs on one CPU from start to end.
 */
struct window {
	__u8 b[EXT_WINDOW];
};

/* The copy of extension headers that parse_ipv6_exts() reads them from. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct window);
} windows SEC(".maps");

/*
 * Zero, written by no one: a value the verifier cannot know. Adding it to a
 * scalar makes the scalar unknown on every path that reaches the addition,
 * for two reasons. The verifier refuses a program without CAP_PERFMON that
 * indexes a map value by a scalar known on some paths and not on others
 * ("pointer arithmetic ... from different paths ... prohibited for !root").
 * And paths that end in the same state are checked once from there on,
 * which keeps the verifier's work within its limits.
 */
volatile __u32 unknown_zero = 0;

/*
 * Moves packet pointer p by the constant n, with an immediate: the verifier
 * lets a packet pointer move by an immediate, but by a register only with
 * CAP_PERFMON, whatever the register holds, and the compiler would
 * otherwise fold constants on different paths into one register.
 */
#define ADVANCE(p, n) asm volatile("%[ptr] += " #n : [ptr] "+r"(p))

static __always_inline int proto_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Moves the cursor past the Ethernet header and up to VLAN_MAX_DEPTH VLAN
 * tags, and returns the ethertype found there (network byte order), or 0
 * when the frame ends before it. 0 is not a valid ethertype, so it
 * classifies as "other". Tags always sit in the linear part, at constant
 * offsets.
 */
static __always_inline __be16 parse_ethhdr(struct cursor *c)
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
		if ((void *)(vlh + 1) > c->end)
			return 0;
		proto = vlh->encap_proto;
		vlh++;
		c->off += sizeof(*vlh);
		c->tags++;
	}
	c->pos = vlh;
	return proto;
}

/*
 * The ethertype of the IP packet under the cursor, from its version nibble,
 * for XDP on a device without a link layer: 0 (other) when it is neither
 * IPv4 nor IPv6, or empty. The cursor stays: the IP header starts here.
 */
static __always_inline __be16 parse_ip_version(struct cursor *c)
{
	__u8 *v = c->pos;

	if ((void *)(v + 1) > c->end)
		return 0;
	switch (*v >> 4) {
	case 4:
		return bpf_htons(ETH_P_IP);
	case 6:
		return bpf_htons(ETH_P_IPV6);
	default:
		return 0;
	}
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
 * Learns the source address of an IPv4 packet (network order) when it can
 * be the address of the pod that sent it: not 0.0.0.0/8 (a DHCP client has
 * none yet), loopback, link-local (169.254/16), multicast or reserved
 * (224/3, the broadcast address with them). It writes only a change: a
 * pod keeps its address, and its line stays clean.
 */
static __always_inline void learn_ipv4(struct learned_source *l, __be32 saddr)
{
	__u32 a = bpf_ntohl(saddr), o = a >> 24;

	if (l && o != 0 && o != 127 && o < 224 && a >> 16 != 0xa9fe && l->ipv4 != saddr)
		l->ipv4 = saddr;
}

/*
 * The same for IPv6, by the address's first byte: not ::/8 (the
 * unspecified address of duplicate address detection, loopback, IPv4
 * mapped), fe00::/8 (link-local, which a pod uses before it has its
 * address, and site-local) or multicast (ff00::/8). Unique local addresses
 * (fc00::/7), which pods often have, are learnt.
 */
static __always_inline void learn_ipv6(struct learned_source *l, struct ipv6hdr *ip6h)
{
	__u64 a, b;

	if (!l || ip6h->saddr.in6_u.u6_addr8[0] == 0 || ip6h->saddr.in6_u.u6_addr8[0] >= 0xfe)
		return;
	__builtin_memcpy(&a, &ip6h->saddr.in6_u.u6_addr8[0], sizeof(a));
	__builtin_memcpy(&b, &ip6h->saddr.in6_u.u6_addr8[8], sizeof(b));
	if (l->ipv6[0] != a || l->ipv6[1] != b) {
		l->ipv6[0] = a;
		l->ipv6[1] = b;
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
	c->proto = iph->protocol;
	learn_ipv4(c->learned, iph->saddr);
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
 * The extension headers' reader: a window, a copy of the frame from start
 * on, n bytes long, taken once for the whole chain and again only when the
 * chain runs past it. One copy costs one helper call, where reading each
 * header with its own would cost one per header.
 */
struct ext_reader {
	struct window *w;
	__u32 start;
	__u32 n;
};

/*
 * Copies n bytes (1 to EXT_WINDOW) of the frame, from off on, into w. It
 * returns non-zero when the frame does not hold them.
 */
static __always_inline int load_window(struct cursor *c, __u32 off, struct window *w, __u64 n)
{
	/*
	 * The verifier wants n's bounds on the register the helper gets: hide
	 * them from the compiler, which would otherwise drop this check as
	 * redundant with the caller's and pass an unchecked copy of n.
	 */
	asm volatile("" : "+r"(n));
	if (n < 1 || n > EXT_WINDOW)
		return -1;
	if (c->hook == HOOK_TC)
		return bpf_skb_load_bytes(c->ctx, off, w->b, n);
	return bpf_xdp_load_bytes(c->ctx, off, w->b, n);
}

/*
 * Reads the first four bytes of the extension header at c->off. Returns
 * non-zero when the frame ends first.
 */
static __always_inline int read_ext(struct cursor *c, struct ext_reader *r, struct ipv6_ext_hdr *h)
{
	__u32 zero = 0, o;

	if (c->hook == HOOK_XDP_LINEAR) {
		/*
		 * Before 5.18 a frame has one buffer and XDP has no helper to
		 * copy it: the header is read in place, at a packet pointer moved
		 * by a length read from the packet (CAP_PERFMON).
		 */
		struct xdp_md *xdp = c->ctx;
		__u64 off = c->off;
		void *p;

		/*
		 * Bounded on the register the pointer moves by, well below the
		 * verifier's limit for packet offsets: a frame of one buffer is
		 * shorter than a page.
		 */
		asm volatile("" : "+r"(off));
		if (off > 0x3fff)
			return -1;
		p = (void *)(long)xdp->data + off;
		if (p + sizeof(*h) > (void *)(long)xdp->data_end)
			return -1;
		__builtin_memcpy(h, p, sizeof(*h));
		return 0;
	}
	if (!r->w || c->off + sizeof(*h) > r->start + r->n) {
		/* No window yet, or the header runs past it: copy from here. */
		if (!r->w && !(r->w = bpf_map_lookup_elem(&windows, &zero)))
			return -1;
		if (c->off + sizeof(*h) > c->len)
			return -1;
		r->start = c->off;
		r->n = c->len - c->off;
		if (r->n > EXT_WINDOW)
			r->n = EXT_WINDOW;
		if (load_window(c, r->start, r->w, r->n))
			return -1;
	}
	/* Bounded for the verifier, and unknown on every path (unknown_zero). */
	o = (c->off - r->start + unknown_zero) & (EXT_WINDOW - 1);
	if (o > EXT_WINDOW - sizeof(*h))
		return -1; /* unreachable: the checks above keep it inside */
	__builtin_memcpy(h, &r->w->b[o], sizeof(*h));
	return 0;
}

/*
 * Walks the IPv6 extension headers from c->off, nexthdr naming the first,
 * and returns the transport: the first next-header value that is not an
 * extension header, trusted only once every header before it is whole. It
 * leaves c->off at the transport header.
 *
 * A non-first fragment (a Fragment header with a non-zero offset) carries
 * the middle of its datagram: what follows the Fragment header is payload,
 * never a header. The walk stops there, and the transport is what the
 * Fragment header names: the upper-layer protocol when the headers that
 * precede it in the datagram name one directly (the common case), unknown
 * (none) when it names another extension header, which only the first
 * fragment holds.
 */
static __always_inline __u32 walk_ipv6_exts(struct cursor *c, __u8 nexthdr, __u32 depth)
{
	struct ext_reader r = {};
	struct ipv6_ext_hdr h;

	/*
	 * A loop, not unrolled (Linux 5.3+ verifies bounded loops): with the
	 * offset unknown_zero makes unknown, every iteration starts in much
	 * the same state.
	 */
#pragma nounroll
	for (int i = 0; i < IPV6_EXT_MAX_DEPTH; i++) {
		if (i >= depth)
			break;
		if (!ipv6_is_ext(nexthdr))
			break;
		if (read_ext(c, &r, &h))
			return TRANSPORT_NONE;
		if (nexthdr == IPPROTO_FRAGMENT && (h.frag_off & bpf_htons(IPV6_FRAG_OFFSET))) {
			if (c->off + 8 > c->len)
				return TRANSPORT_NONE;
			c->off += 8;
			if (ipv6_is_ext(h.nexthdr) || h.nexthdr == IPPROTO_NONE)
				return TRANSPORT_NONE;
			return transport_of(h.nexthdr, 1);
		}
		c->off += ipv6_ext_len(nexthdr, h.hdrlen) + unknown_zero;
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
 * The walk of extension headers, for each hook, as a global function: the
 * verifier checks it once, on its own, with unknown arguments, rather than
 * once for every path through the Ethernet and VLAN headers that reaches
 * it, which would take it past its limits for a program without
 * CAP_PERFMON. It returns the transport in the low byte and the offset of
 * the transport header above. Only IPv6 packets with extension headers pay
 * for the call.
 */
#define DEFINE_IPV6_EXTS(name, ctx_type, hk)                                                               \
	__attribute__((noinline)) int name(ctx_type *ctx, __u32 off, __u32 len, __u32 nexthdr, __u32 depth) \
	{                                                                                                  \
		struct cursor c = {.ctx = ctx, .hook = hk, .off = off, .len = len};                         \
		__u32 t = walk_ipv6_exts(&c, nexthdr, depth);                                              \
                                                                                                           \
		return (int)((c.off & 0xffffff) << 8 | t);                                                 \
	}

DEFINE_IPV6_EXTS(ipv6_exts_xdp, struct xdp_md, HOOK_XDP)
DEFINE_IPV6_EXTS(ipv6_exts_xdp_linear, struct xdp_md, HOOK_XDP_LINEAR)
DEFINE_IPV6_EXTS(ipv6_exts_tc, struct __sk_buff, HOOK_TC)

/*
 * The transport of an IPv6 packet: its next-header field, or, when that
 * names an extension header, what the walk of the chain finds. The first
 * IPV6_EXT_IN_PLACE extension headers are read in place, where they sit in
 * the linear part and are 8, 16 or 24 bytes long: the packet pointer moves
 * only by those constants (ADVANCE). Anything else goes on through the
 * walk, which copies.
 */
static __always_inline __u32 parse_ipv6(struct cursor *c)
{
	struct ipv6hdr *ip6h = c->pos;
	struct ipv6_ext_hdr *h;
	__u32 depth = 0, n;
	__u8 nexthdr;
	void *pos;
	int r;

	if ((void *)(ip6h + 1) > c->end)
		return TRANSPORT_NONE;
	if (ip6h->version != 6)
		return TRANSPORT_NONE;
	nexthdr = ip6h->nexthdr;
	c->off += sizeof(*ip6h);
	learn_ipv6(c->learned, ip6h);
	pos = ip6h + 1;

#pragma unroll
	for (int i = 0; i < IPV6_EXT_IN_PLACE; i++) {
		if (!ipv6_is_ext(nexthdr))
			break;
		h = pos;
		if ((void *)(h + 1) > c->end)
			break; /* past the linear part: the walk reads frags too */
		n = ipv6_ext_len(nexthdr, h->hdrlen);
		if (nexthdr == IPPROTO_FRAGMENT && (h->frag_off & bpf_htons(IPV6_FRAG_OFFSET)))
			break; /* a non-first fragment: the walk says what it is */
		if (c->off + n > c->len)
			return TRANSPORT_NONE;
		if (n == 8)
			ADVANCE(pos, 8);
		else if (n == 16)
			ADVANCE(pos, 16);
		else if (n == 24)
			ADVANCE(pos, 24);
		else
			break;
		c->off += n;
		nexthdr = h->nexthdr;
		depth++;
	}
	if (!ipv6_is_ext(nexthdr)) {
		if (nexthdr == IPPROTO_NONE)
			return TRANSPORT_NONE;
		c->proto = nexthdr;
		return transport_of(nexthdr, 1);
	}
	switch (c->hook) {
	case HOOK_TC:
		r = ipv6_exts_tc(c->ctx, c->off, c->len, nexthdr, IPV6_EXT_MAX_DEPTH - depth);
		break;
	case HOOK_XDP_LINEAR:
		r = ipv6_exts_xdp_linear(c->ctx, c->off, c->len, nexthdr, IPV6_EXT_MAX_DEPTH - depth);
		break;
	default:
		r = ipv6_exts_xdp(c->ctx, c->off, c->len, nexthdr, IPV6_EXT_MAX_DEPTH - depth);
	}
	c->off = (__u32)r >> 8;
	return r & 0xff;
}

/*
 * Classifies the frame under the cursor, which starts at its first header,
 * of the kind link says, and leaves the cursor's offset at its transport
 * header. On a device without a link layer the network type is what the
 * kernel took the packet for (skb->protocol) at TC, and what its version
 * nibble says at XDP; either way the IP header is then parsed at offset 0,
 * and one whose version is not the one expected is cut short (none).
 */
static __always_inline struct class_info classify(struct cursor *c, enum link link)
{
	struct class_info ci = {.net = NET_TYPE_OTHER, .transport = TRANSPORT_NONE};
	__be16 proto;

	if (link == LINK_ETHERNET)
		proto = parse_ethhdr(c);
	else if (c->hook == HOOK_TC)
		proto = (__be16)((struct __sk_buff *)c->ctx)->protocol;
	else
		proto = parse_ip_version(c);

	switch (proto) {
	case bpf_htons(ETH_P_IP):
		ci.net = NET_TYPE_IPV4;
		ci.transport = parse_ipv4(c);
		break;
	case bpf_htons(ETH_P_IPV6):
		ci.net = NET_TYPE_IPV6;
		ci.transport = parse_ipv6(c);
		break;
	case bpf_htons(ETH_P_ARP):
		ci.net = NET_TYPE_ARP;
		break;
	}
	return ci;
}

#endif /* OTELCOL_XDP_PARSE_H */
