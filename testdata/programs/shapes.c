// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * Test object for the xdp receiver's `program` setting: one counter map of
 * every supported kind, maps of shapes it refuses, a program that is not
 * XDP, and one that the verifier rejects.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "Dual MIT/GPL";

#define COUNTER_MAP(name, map_type)          \
	struct {                             \
		__uint(type, map_type);      \
		__uint(max_entries, 4);      \
		__type(key, __u32);          \
		__type(value, __u64);        \
	} name SEC(".maps")

COUNTER_MAP(array_count, BPF_MAP_TYPE_ARRAY);
COUNTER_MAP(hash_count, BPF_MAP_TYPE_HASH);
COUNTER_MAP(percpu_array_count, BPF_MAP_TYPE_PERCPU_ARRAY);
COUNTER_MAP(percpu_hash_count, BPF_MAP_TYPE_PERCPU_HASH);

struct pair {
	__u64 packets;
	__u64 bytes;
};

/* 16-byte values: refused. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct pair);
} wide_values SEC(".maps");

/* Not a map of counters at all: refused. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

/* Adds n under key in a map that other CPUs share. */
static __always_inline void add_shared(void *map, __u32 key, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		__sync_fetch_and_add(v, n);
	else
		bpf_map_update_elem(map, &key, &n, BPF_NOEXIST);
}

/* Adds n under key in a per-CPU map. */
static __always_inline void add_percpu(void *map, __u32 key, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(map, &key);

	if (v)
		*v += n;
	else
		bpf_map_update_elem(map, &key, &n, BPF_NOEXIST);
}

/* Key 0 counts frames, key 1 their bytes, in each of the four maps. */
SEC("xdp")
int xdp_all(struct xdp_md *ctx)
{
	__u64 len = bpf_xdp_get_buff_len(ctx);

	add_shared(&array_count, 0, 1);
	add_shared(&array_count, 1, len);
	add_shared(&hash_count, 0, 1);
	add_shared(&hash_count, 1, len);
	add_percpu(&percpu_array_count, 0, 1);
	add_percpu(&percpu_array_count, 1, len);
	add_percpu(&percpu_hash_count, 0, 1);
	add_percpu(&percpu_hash_count, 1, len);
	return XDP_PASS;
}

SEC("tc")
int tc_pass(struct __sk_buff *skb)
{
	return 0;
}

/* Reads the packet without checking its bounds: the verifier refuses it. */
SEC("xdp")
int xdp_unchecked(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;

	if (data[12] == 0x42) /* never runs: it never loads */
		return XDP_ABORTED;
	return XDP_PASS;
}
