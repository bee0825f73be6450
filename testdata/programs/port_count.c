// SPDX-License-Identifier: (MIT OR GPL-2.0-only)
/*
 * A custom XDP program for the xdp receiver's `program` setting: it counts
 * UDP datagrams by destination port in the map packet_count, and passes
 * every frame on. The receiver exports each port as a series of
 * xdp.program.count.
 *
 * Build: clang -target bpf -O2 -g -c port_count.c -o port_count.o
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char __license[] SEC("license") = "Dual MIT/GPL";

/* The receiver reads 4-byte keys and 8-byte counters, summing per-CPU values. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u64);
} packet_count SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = (void *)(eth + 1);
	/* Headers without IPv4 options only: constant offsets keep the program
	 * loadable with CAP_BPF and CAP_NET_ADMIN alone. */
	struct udphdr *udph = (void *)(iph + 1);
	__u64 one = 1, *count;
	__u32 port;

	if ((void *)(udph + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || iph->ihl != 5 || iph->protocol != IPPROTO_UDP)
		return XDP_PASS;

	port = bpf_ntohs(udph->dest);
	count = bpf_map_lookup_elem(&packet_count, &port);
	if (count)
		(*count)++; /* per-CPU: no other CPU writes this slot */
	else
		bpf_map_update_elem(&packet_count, &port, &one, BPF_NOEXIST);
	return XDP_PASS;
}
