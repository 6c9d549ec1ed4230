//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The Axon TC program: decides every HTTP/1.x request sent to a policed
 * endpoint from the compiled decision maps (include/policy_maps.h). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "include/axon_shared.h"
#include "include/knobs.h"
#include "include/net_hdrs.h"
#include "include/policy_maps.h"
#include "include/flow_state.h"
#include "include/telemetry.h"
#include "include/parse_http.h"
#include "include/decide.h"
#include "include/reset.h"

char __license[] SEC("license") = "Dual BSD/GPL";

#define AX_HDR_PULL 134 /* Ethernet + IPv6 + extension headers + TCP with options */

/* ax_parse_ipv6_ext skips extension headers; returns the transport protocol
 * and advances *off, or -1. */
static __always_inline int ax_parse_ipv6_ext(struct __sk_buff *skb, __u32 *off, __u8 nh,
					     struct ax_pkt *p)
{
	for (int i = 0; i < AX_IPV6_EXT_MAX; i++) {
		__u8 hdr[8];
		if (nh != AX_IPPROTO_HOPOPTS && nh != AX_IPPROTO_ROUTING &&
		    nh != AX_IPPROTO_DSTOPTS && nh != AX_IPPROTO_FRAGMENT)
			return nh;
		if (bpf_skb_load_bytes(skb, *off, hdr, 8))
			return -1;
		if (nh == AX_IPPROTO_FRAGMENT) {
			__u16 fo = ((__u16)hdr[2] << 8) | hdr[3];
			if (fo & 0xfff8)
				return -1; /* not the first fragment: no TCP header */
			if (fo & 1)
				p->frag = 1;
			*off += 8;
		} else {
			*off += ((__u32)hdr[1] + 1) * 8;
		}
		nh = hdr[0];
	}
	return -1;
}

/* ax_parse_pkt fills p for a TCP packet; returns -1 for anything else. */
static __always_inline int ax_parse_pkt(struct __sk_buff *skb, struct ax_pkt *p)
{
	void *data = ax_data(skb);
	void *data_end = ax_data_end(skb);
	if (data + AX_HDR_PULL > data_end && skb->len > (__u32)(data_end - data)) {
		bpf_skb_pull_data(skb, skb->len < AX_HDR_PULL ? skb->len : AX_HDR_PULL);
		data = ax_data(skb);
		data_end = ax_data_end(skb);
	}
	struct ax_ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__u32 l4off, l3len, iplen;
	if (eth->proto == bpf_htons(AX_ETH_P_IP)) {
		struct ax_iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return -1;
		if (ip->proto != AX_IPPROTO_TCP)
			return -1;
		__u16 fo = bpf_ntohs(ip->frag_off);
		if (fo & 0x1fff)
			return -1; /* not the first fragment: no TCP header */
		p->frag = (fo & 0x2000) != 0;
		l3len = (ip->ver_ihl & 0xf) * 4;
		if (l3len < 20)
			return -1;
		iplen = bpf_ntohs(ip->tot_len);
		__builtin_memset(p->saddr, 0, 10);
		p->saddr[10] = 0xff;
		p->saddr[11] = 0xff;
		__builtin_memcpy(p->saddr + 12, &ip->saddr, 4);
		__builtin_memset(p->daddr, 0, 10);
		p->daddr[10] = 0xff;
		p->daddr[11] = 0xff;
		__builtin_memcpy(p->daddr + 12, &ip->daddr, 4);
	} else if (eth->proto == bpf_htons(AX_ETH_P_IPV6)) {
		struct ax_ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return -1;
		__u32 off = sizeof(*eth) + sizeof(*ip6);
		int nh = ip6->nexthdr;
		__builtin_memcpy(p->saddr, ip6->saddr, 16);
		__builtin_memcpy(p->daddr, ip6->daddr, 16);
		iplen = bpf_ntohs(ip6->payload_len) + sizeof(*ip6);
		if (nh != AX_IPPROTO_TCP) {
			p->v6 = 1;
			nh = ax_parse_ipv6_ext(skb, &off, nh, p);
			if (nh != AX_IPPROTO_TCP)
				return -1;
		}
		l3len = off - sizeof(*eth);
		p->v6 = 1;
	} else {
		return -1;
	}
	l4off = sizeof(struct ax_ethhdr) + (l3len & 0xff);
	struct ax_tcphdr *tcp = (void *)eth + l4off;
	if ((void *)(tcp + 1) > data_end)
		return -1;
	__u32 doff = (tcp->doff_res >> 4) * 4;
	if (doff < 20 || iplen < l3len + doff)
		return -1;
	p->l3off = sizeof(struct ax_ethhdr);
	p->l4off = l4off;
	p->l3len = l3len;
	p->poff = l4off + doff;
	p->plen = iplen - l3len - doff;
	p->seq = bpf_ntohl(tcp->seq);
	p->ack = bpf_ntohl(tcp->ack_seq);
	p->sport = bpf_ntohs(tcp->source);
	p->dport = bpf_ntohs(tcp->dest);
	p->tcp_flags = tcp->flags;
	__builtin_memcpy(p->smac, eth->src, 6);
	__builtin_memcpy(p->dmac, eth->dst, 6);
	return 0;
}

static __always_inline int ax_drop(__u32 reason)
{
	ax_count_reason(reason);
	return TC_ACT_SHOT;
}

static __always_inline int ax_deny(struct __sk_buff *skb, struct ax_pkt *p, struct ax_flow *f,
				   __u64 redirect_flags)
{
	__u32 server_seq = f->next_seq;
	f->state = AX_ST_RESET;
	if (ax_reset(skb, p, server_seq, redirect_flags))
		return ax_drop(AX_REASON_RESET_FAILED);
	return TC_ACT_OK;
}

/* ax_port_policed says whether some endpoint of generation gen uses port. */
static __always_inline int ax_port_policed(__u32 gen, __u16 port)
{
	__u32 word = gen * AX_PORT_WORDS + port / 64;
	__u64 *bits = bpf_map_lookup_elem(&policed_ports, &word);
	return bits && ((*bits >> (port & 63)) & 1);
}

/* ax_port_filter is the fast path for traffic nobody polices: it finds the
 * TCP ports of plain IPv4/IPv6 packets and says whether any endpoint of
 * generation gen uses one of them. Anything it cannot read quickly goes
 * to the full parse. */
static __always_inline int ax_port_filter(struct __sk_buff *skb, __u32 gen)
{
	void *data = ax_data(skb);
	void *data_end = ax_data_end(skb);
	struct ax_ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 1;
	__u32 l4off;
	if (eth->proto == bpf_htons(AX_ETH_P_IP)) {
		struct ax_iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return 1;
		if (ip->proto != AX_IPPROTO_TCP)
			return 0;
		l4off = sizeof(*eth) + (ip->ver_ihl & 0xf) * 4;
	} else if (eth->proto == bpf_htons(AX_ETH_P_IPV6)) {
		struct ax_ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return 1;
		if (ip6->nexthdr != AX_IPPROTO_TCP)
			return 1;
		l4off = sizeof(*eth) + sizeof(*ip6);
	} else {
		return 0;
	}
	struct ax_tcphdr *tcp = data + l4off;
	if ((void *)(tcp + 1) > data_end)
		return 1;
	return ax_port_policed(gen, bpf_ntohs(tcp->dest)) ||
	       ax_port_policed(gen, bpf_ntohs(tcp->source));
}

/* ax_server_ack records what a policed server acknowledged on a flow: the
 * bytes before it are in the server's stream, whatever is retransmitted. */
static __always_inline void ax_server_ack(struct ax_pkt *p, __u32 gen)
{
	if (!(p->tcp_flags & AX_TCP_ACK) || (p->tcp_flags & AX_TCP_SYN))
		return;
	struct ax_endpoint_key ek = {.gen = gen, .port = p->sport};
	__builtin_memcpy(ek.addr, p->saddr, 16);
	if (!bpf_map_lookup_elem(&endpoints, &ek))
		return;
	struct ax_flow_key k = {.sport = p->dport, .dport = p->sport};
	__builtin_memcpy(k.saddr, p->daddr, 16);
	__builtin_memcpy(k.daddr, p->saddr, 16);
	struct ax_flow *f = bpf_map_lookup_elem(&flows, &k);
	if (!f)
		return;
	/* Never beyond what was passed to the server. */
	if ((__s32)(p->ack - f->next_seq) > 0)
		return;
	if (!f->ack_known || (__s32)(p->ack - f->srv_ack) > 0) {
		f->srv_ack = p->ack;
		f->ack_known = 1;
	}
}

/* ax_refuse handles a segment that cannot be decided by the rules: a deny
 * with a reason on an endpoint with an Enforce-mode policy; otherwise an
 * audit_deny, and the flow is no longer parsed. */
static __always_inline int ax_refuse(struct __sk_buff *skb, struct ax_pkt *p, struct ax_scratch *s,
				     struct ax_flow *f, __u32 reason, __u64 redirect_flags)
{
	s->reason = reason;
	s->rule = 0;
	s->identity = 0;
	if (s->ep.flags & AX_EP_ENFORCE) {
		s->verdict = AX_VERDICT_DENY;
		ax_account(s, f);
		return ax_deny(skb, p, f, redirect_flags);
	}
	s->verdict = AX_VERDICT_AUDIT_DENY;
	ax_account(s, f);
	f->state = AX_ST_PASS;
	return TC_ACT_OK;
}

static __always_inline int ax_handle(struct __sk_buff *skb, __u64 redirect_flags)
{
	__u32 zero = 0;
	struct ax_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return TC_ACT_OK;
	__u32 gen = cfg->active_gen & 1;
	if (!ax_port_filter(skb, gen))
		return TC_ACT_OK;

	struct ax_pkt p = {};
	if (ax_parse_pkt(skb, &p))
		return TC_ACT_OK;
	struct ax_endpoint_key ek = {.gen = gen, .port = p.dport};
	__builtin_memcpy(ek.addr, p.daddr, 16);
	struct ax_endpoint *ep = 0;
	if (ax_port_policed(gen, p.dport))
		ep = bpf_map_lookup_elem(&endpoints, &ek);
	if (!ep) {
		if (ax_port_policed(gen, p.sport))
			ax_server_ack(&p, gen);
		return TC_ACT_OK;
	}
	if (p.frag)
		return ax_drop(AX_REASON_FRAGMENT);

	struct ax_scratch *s = ax_scratch();
	if (!s)
		return TC_ACT_SHOT;
	__builtin_memcpy(s->key.saddr, p.saddr, 16);
	__builtin_memcpy(s->key.daddr, p.daddr, 16);
	s->key.sport = p.sport;
	s->key.dport = p.dport;
	s->gen = gen;
	s->ep = *ep;

	struct ax_flow *f = bpf_map_lookup_elem(&flows, &s->key);
	if (p.tcp_flags & AX_TCP_RST) {
		/* The server takes a RST only at exactly the next byte it
		 * expects; any other one leaves the connection, and the flow. */
		if (f && p.seq == f->next_seq)
			bpf_map_delete_elem(&flows, &s->key);
		return TC_ACT_OK;
	}
	__u32 data_seq = p.seq;
	int start = 0;
	if (p.tcp_flags & AX_TCP_SYN) {
		data_seq++;
		/* A SYN starts a flow only where no stream is being parsed:
		 * otherwise it could move the parser away from the bytes the
		 * server takes. The server answers it with a challenge ACK. */
		if (f && f->state != AX_ST_RESET && f->state != AX_ST_CLOSED &&
		    f->next_seq != f->base_seq)
			return p.plen ? ax_drop(AX_REASON_OUT_OF_ORDER) : TC_ACT_OK;
		start = 1;
	} else if (!f && p.plen > 0) {
		start = 1; /* mid-stream: parsed from this segment on */
	}
	if (start) {
		__builtin_memset(&s->init, 0, sizeof(s->init));
		s->init.next_seq = data_seq;
		s->init.base_seq = data_seq;
		if (bpf_map_update_elem(&flows, &s->key, &s->init, BPF_ANY))
			return ax_drop(AX_REASON_MALFORMED);
		f = bpf_map_lookup_elem(&flows, &s->key);
	}
	if (!f)
		return TC_ACT_OK;
	if (p.plen == 0) {
		if ((p.tcp_flags & AX_TCP_FIN) && data_seq == f->next_seq &&
		    f->state != AX_ST_RESET) {
			f->state = AX_ST_CLOSED;
			f->next_seq = data_seq + 1;
		}
		return TC_ACT_OK;
	}
	if (f->state == AX_ST_RESET)
		return ax_drop(AX_REASON_FLOW_RESET);
	if (f->state == AX_ST_PASS)
		return TC_ACT_OK;

	/* Bytes before the first one parsed cannot be checked: drop them. */
	if ((__s32)(data_seq - f->base_seq) < 0)
		return ax_drop(AX_REASON_OUT_OF_ORDER);
	__s32 ahead = (__s32)(data_seq - f->next_seq);
	if (ahead > 0)
		return ax_drop(AX_REASON_OUT_OF_ORDER);
	__u32 skip = (__u32)(-ahead);
	if (skip > 0 && f->ack_known) {
		/* Bytes passed before but not acknowledged may never have
		 * reached the server; these copies could differ from what was
		 * parsed. They cannot be checked: refuse them. */
		__u32 old_end = skip >= p.plen ? data_seq + p.plen : f->next_seq;
		if ((__s32)(old_end - f->srv_ack) > 0)
			return ax_refuse(skb, &p, s, f, AX_REASON_UNVERIFIED, redirect_flags);
	}
	if (skip >= p.plen)
		return TC_ACT_OK; /* a retransmission of bytes already parsed */
	if (f->state == AX_ST_CLOSED)
		return ax_drop(AX_REASON_OUT_OF_ORDER); /* data after FIN */

	__u32 end = p.poff + p.plen;
	if (end > skb->len)
		return ax_drop(AX_REASON_MALFORMED);
	if ((long)skb->data + end > (long)skb->data_end)
		bpf_skb_pull_data(skb, end);
	s->pos = p.poff + skip;
	s->end = end;

	int r = AX_P_MALFORMED;
	for (int round = 0; round < AX_PARSE_ROUNDS; round++) {
		r = ax_parse(skb);
		if (r == AX_P_DONE) {
			f->next_seq = data_seq + p.plen;
			if (p.tcp_flags & AX_TCP_FIN) {
				f->state = AX_ST_CLOSED;
				f->next_seq++;
			}
			return TC_ACT_OK;
		}
		if (r == AX_P_MORE)
			continue;
		if (r == AX_P_DECIDE) {
			if (ax_decide(skb) == AX_VERDICT_DENY)
				return ax_deny(skb, &p, f, redirect_flags);
			continue;
		}
		break;
	}
	if (r == AX_P_MORE || r == AX_P_DECIDE)
		r = AX_P_MALFORMED; /* more requests in one segment than the bounds allow */
	__u32 reason = AX_REASON_MALFORMED;
	if (r == AX_P_NOT_HTTP)
		reason = AX_REASON_NOT_HTTP;
	else if (r == AX_P_UPGRADE)
		reason = AX_REASON_UPGRADE;
	return ax_refuse(skb, &p, s, f, reason, redirect_flags);
}

/* For a device whose ingress carries client-to-server traffic. */
SEC("tc")
int axon_ingress(struct __sk_buff *skb)
{
	return ax_handle(skb, 0);
}

/* For a device whose egress carries client-to-server traffic (the host side
 * of a pod's veth). */
SEC("tc")
int axon_egress(struct __sk_buff *skb)
{
	return ax_handle(skb, BPF_F_INGRESS);
}
