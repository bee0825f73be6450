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
#include "parse.h"

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
 * It also decides how headers at variable offsets are read (parse.h). With
 * frags, bpf_xdp_load_bytes() reads them at a scalar offset. Before 5.18 the
 * program moves a packet pointer by the offset instead, which the verifier
 * allows only with CAP_PERFMON.
 */
volatile const __u8 frags_aware = 1;

/* The whole frame's length, every buffer of a multi-buffer frame included. */
static __always_inline __u32 frame_len(struct xdp_md *ctx)
{
	if (frags_aware)
		return bpf_xdp_get_buff_len(ctx);
	return ctx->data_end - ctx->data;
}

static __always_inline int load_bytes(void *ctx, __u32 off, void *buf, __u32 len)
{
	struct xdp_md *xdp = ctx;
	void *data = (void *)(long)xdp->data;
	void *data_end = (void *)(long)xdp->data_end;
	void *p;

	if (frags_aware)
		return bpf_xdp_load_bytes(xdp, off, buf, len);
	/* Before 5.18 a frame has one buffer: read in place (CAP_PERFMON). */
	p = data + off;
	if (p + len > data_end)
		return -1;
	__builtin_memcpy(buf, p, len);
	return 0;
}

SEC("xdp.frags")
int xdp_count(struct xdp_md *ctx)
{
	struct cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
		.len = frame_len(ctx),
		.direct = 1,
	};
	struct class_info ci = classify(ctx, &c, VLAN_MAX_DEPTH);
	__u32 key = ci.net * TRANSPORT_COUNT + ci.transport;
	struct counter *cnt;

	cnt = bpf_map_lookup_elem(&counters, &key);
	if (!cnt) /* unreachable: key < CLASS_COUNT by construction */
		return XDP_PASS;
	cnt->packets++;
	cnt->bytes += c.len;
	return XDP_PASS;
}
