/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Deny = reset: the denied segment becomes a RST to the server (it never
 * sees the request) and a clone becomes a RST back to the client. */
#ifndef AX_RESET_H
#define AX_RESET_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "net_hdrs.h"
#include "pkt.h"

struct ax_rst_buf {
	__u8 pseudo[40]; /* IPv6 pseudo header, or IPv4 in the last 12 bytes */
	struct ax_tcphdr tcp;
};

static __always_inline __u16 ax_csum_fold(__s64 s)
{
	__u32 x = (__u32)s;
	x = (x & 0xffff) + (x >> 16);
	x = (x & 0xffff) + (x >> 16);
	return (__u16)~x;
}

/* ax_write_rst turns the (already trimmed) packet into a bare RST|ACK from
 * src to dst with the given sequence numbers. */
static __always_inline int ax_write_rst(struct __sk_buff *skb, struct ax_pkt *p, int to_client,
					__u32 seq, __u32 ack)
{
	struct ax_rst_buf b = {};
	__u8 mac[12];
	const __u8 *src = to_client ? p->daddr : p->saddr;
	const __u8 *dst = to_client ? p->saddr : p->daddr;

	__builtin_memcpy(mac, to_client ? p->smac : p->dmac, 6);
	__builtin_memcpy(mac + 6, to_client ? p->dmac : p->smac, 6);
	if (bpf_skb_store_bytes(skb, 0, mac, 12, 0))
		return -1;

	b.tcp.source = bpf_htons(to_client ? p->dport : p->sport);
	b.tcp.dest = bpf_htons(to_client ? p->sport : p->dport);
	b.tcp.seq = bpf_htonl(seq);
	b.tcp.ack_seq = bpf_htonl(ack);
	b.tcp.doff_res = 5 << 4;
	b.tcp.flags = AX_TCP_RST | AX_TCP_ACK;

	__s64 sum;
	if (p->v6) {
		__builtin_memcpy(b.pseudo, src, 16);
		__builtin_memcpy(b.pseudo + 16, dst, 16);
		b.pseudo[35] = sizeof(struct ax_tcphdr);
		b.pseudo[39] = AX_IPPROTO_TCP;
		if (bpf_skb_store_bytes(skb, p->l3off + 8, b.pseudo, 32, 0))
			return -1;
		sum = bpf_csum_diff(0, 0, (__be32 *)&b, sizeof(b), 0);
	} else {
		__builtin_memcpy(b.pseudo + 28, src + 12, 4);
		__builtin_memcpy(b.pseudo + 32, dst + 12, 4);
		b.pseudo[37] = AX_IPPROTO_TCP;
		b.pseudo[39] = sizeof(struct ax_tcphdr);
		if (bpf_skb_store_bytes(skb, p->l3off + 12, b.pseudo + 28, 8, 0))
			return -1;
		sum = bpf_csum_diff(0, 0, (__be32 *)((__u8 *)&b + 28), 32, 0);
	}
	if (sum < 0)
		return -1;
	b.tcp.check = ax_csum_fold(sum);
	return bpf_skb_store_bytes(skb, p->l4off, &b.tcp, sizeof(b.tcp), 0);
}

/* ax_reset rewrites the packet into a RST to the server with sequence
 * number server_seq (what the server expects next), after sending a RST to
 * the client when cfg_reflect_rst is set. redirect_flags: 0 when the program
 * runs at ingress (the client is behind the same device's egress),
 * BPF_F_INGRESS when it runs at egress. */
static __attribute__((noinline)) int ax_reset(struct __sk_buff *skb, struct ax_pkt *p,
					      __u32 server_seq, __u64 redirect_flags)
{
	__u32 newlen = p->l4off + sizeof(struct ax_tcphdr);
	if (bpf_skb_change_tail(skb, newlen, 0))
		return -1;
	if (p->v6) {
		__be16 pl = bpf_htons(p->l3len - 40 + sizeof(struct ax_tcphdr));
		if (bpf_skb_store_bytes(skb, p->l3off + 4, &pl, 2, 0))
			return -1;
	} else {
		__be16 old, nl = bpf_htons(p->l3len + sizeof(struct ax_tcphdr));
		if (bpf_skb_load_bytes(skb, p->l3off + 2, &old, 2))
			return -1;
		if (bpf_skb_store_bytes(skb, p->l3off + 2, &nl, 2, 0))
			return -1;
		if (bpf_l3_csum_replace(skb, p->l3off + 10, old, nl, 2))
			return -1;
	}
	if (cfg_reflect_rst) {
		if (ax_write_rst(skb, p, 1, p->ack, p->seq + p->plen))
			return -1;
		bpf_clone_redirect(skb, skb->ifindex, redirect_flags);
	}
	return ax_write_rst(skb, p, 0, server_seq, p->ack);
}

#endif
