// SPDX-License-Identifier: (MIT OR GPL-2.0-only)

//go:build ignore

/*
 * Programs the counter is measured against, never attached by the receiver.
 *
 * xdp_floor: the cost of running any XDP program at all.
 * tc_floor:  the cost of running any TC program at all.
 * xdp_seed:  the design this project started from: one hash map keyed by the
 *            ethertype, its value incremented atomically.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "Dual MIT/GPL";

SEC("xdp")
int xdp_floor(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("tc")
int tc_floor(struct __sk_buff *skb)
{
	return -1; /* TC_ACT_UNSPEC */
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} packet_count SEC(".maps");

SEC("xdp")
int xdp_seed(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 one = 1, *count;
	__u32 key;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	key = eth->h_proto;
	count = bpf_map_lookup_elem(&packet_count, &key);
	if (count)
		__sync_fetch_and_add(count, 1);
	else
		bpf_map_update_elem(&packet_count, &key, &one, BPF_NOEXIST);
	return XDP_PASS;
}
