/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading a frame down to its TCP header, and the first half of the
 * normalizer: a frame the server's stack could read differently from us
 * (VLAN tags, IP fragments, an extension header chain we do not walk to its
 * end, inconsistent lengths) is never parsed. It is classified AX_PK_SUSPECT
 * so that the caller drops it when its destination is policed
 * (docs/security.md). */
#ifndef AX_PKT_H
#define AX_PKT_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "axon_shared.h"
#include "net_hdrs.h"

/* What the datapath knows about the packet being handled. */
struct ax_pkt {
	__u32 l3off;
	__u32 l4off;
	__u32 poff; /* payload offset */
	__u32 plen; /* payload length (from the IP header) */
	__u32 seq;  /* host order */
	__u32 ack;
	__u16 sport;
	__u16 dport;
	__u16 l3len; /* IPv4 header length; IPv6: header + extension headers */
	__u8 v6;
	__u8 tcp_flags;
	__u8 dst_known; /* daddr is valid (also for AX_PK_SUSPECT) */
	__u8 why;	/* AX_PK_SUSPECT: the enum ax_reason */
	__u8 pad[2];
	__u8 smac[6];
	__u8 dmac[6];
	__u8 saddr[16];
	__u8 daddr[16];
};

enum ax_pkt_kind {
	AX_PK_OTHER = 0,   /* not TCP over IP: not the datapath's business */
	AX_PK_TCP = 1,	   /* a TCP segment, every header read and consistent */
	AX_PK_SUSPECT = 2, /* TCP, or maybe TCP, that must not be parsed */
};

static __always_inline int ax_is_vlan(__be16 proto)
{
	return proto == bpf_htons(AX_ETH_P_8021Q) || proto == bpf_htons(AX_ETH_P_8021AD) ||
	       proto == bpf_htons(AX_ETH_P_QINQ1);
}

static __always_inline void ax_v4mapped(__u8 *dst, const void *v4)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, v4, 4);
}

/* ax_ipv6_chain walks the extension headers after the IPv6 header: returns
 * the upper-layer protocol with *off at its header, or -1 with p->why set
 * when the chain holds a fragment header, a header we cannot see through, or
 * is longer than AX_IPV6_EXT_MAX headers. */
static __always_inline int ax_ipv6_chain(struct __sk_buff *skb, __u32 *off, __u8 nh,
					 struct ax_pkt *p)
{
	for (int i = 0; i < AX_IPV6_EXT_MAX; i++) {
		__u8 hdr[2];
		if (nh == AX_IPPROTO_FRAGMENT) {
			p->why = AX_REASON_FRAGMENT;
			return -1;
		}
		if (nh == AX_IPPROTO_ESP) {
			p->why = AX_REASON_IP_HEADER;
			return -1;
		}
		if (nh != AX_IPPROTO_HOPOPTS && nh != AX_IPPROTO_ROUTING &&
		    nh != AX_IPPROTO_DSTOPTS && nh != AX_IPPROTO_AH)
			return nh;
		if (bpf_skb_load_bytes(skb, *off, hdr, 2)) {
			p->why = AX_REASON_IP_HEADER;
			return -1;
		}
		if (nh == AX_IPPROTO_AH)
			*off += ((__u32)hdr[1] + 2) * 4;
		else
			*off += ((__u32)hdr[1] + 1) * 8;
		nh = hdr[0];
	}
	if (nh == AX_IPPROTO_HOPOPTS || nh == AX_IPPROTO_ROUTING || nh == AX_IPPROTO_DSTOPTS ||
	    nh == AX_IPPROTO_AH || nh == AX_IPPROTO_FRAGMENT || nh == AX_IPPROTO_ESP) {
		p->why = AX_REASON_IP_HEADER;
		return -1;
	}
	return nh;
}

/* ax_classify reads the frame into p. Only AX_PK_TCP fills every field;
 * AX_PK_SUSPECT fills why and, when the IP header was readable, daddr. */
static __always_inline int ax_classify(struct __sk_buff *skb, struct ax_pkt *p)
{
	struct ax_ethhdr eth;
	if (bpf_skb_load_bytes(skb, 0, &eth, sizeof(eth)))
		return AX_PK_OTHER;
	__be16 proto = eth.proto;
	__u32 off = sizeof(eth);
	int tagged = skb->vlan_present;
	for (int i = 0; i < AX_VLAN_MAX; i++) {
		if (!ax_is_vlan(proto))
			break;
		__be16 tag[2];
		if (bpf_skb_load_bytes(skb, off, tag, 4))
			return AX_PK_OTHER;
		proto = tag[1];
		off += 4;
		tagged = 1;
	}
	if (ax_is_vlan(proto)) {
		p->why = AX_REASON_VLAN;
		return AX_PK_SUSPECT; /* more tags than we walk: destination unknown */
	}
	p->l3off = off;
	__u32 iplen, l3len, tcpoff;
	if (proto == bpf_htons(AX_ETH_P_IP)) {
		struct ax_iphdr ip;
		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
			return AX_PK_OTHER;
		if (ip.proto != AX_IPPROTO_TCP)
			return AX_PK_OTHER;
		ax_v4mapped(p->saddr, &ip.saddr);
		ax_v4mapped(p->daddr, &ip.daddr);
		p->dst_known = 1;
		l3len = (ip.ver_ihl & 0xf) * 4;
		iplen = bpf_ntohs(ip.tot_len);
		if (bpf_ntohs(ip.frag_off) & 0x3fff) {
			p->why = AX_REASON_FRAGMENT; /* first or later fragment */
			return AX_PK_SUSPECT;
		}
		if ((ip.ver_ihl >> 4) != 4 || l3len < 20) {
			p->why = AX_REASON_IP_HEADER;
			return AX_PK_SUSPECT;
		}
		tcpoff = off + l3len;
	} else if (proto == bpf_htons(AX_ETH_P_IPV6)) {
		struct ax_ipv6hdr ip6;
		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)))
			return AX_PK_OTHER;
		__builtin_memcpy(p->saddr, ip6.saddr, 16);
		__builtin_memcpy(p->daddr, ip6.daddr, 16);
		p->dst_known = 1;
		p->v6 = 1;
		tcpoff = off + sizeof(ip6);
		int nh = ip6.nexthdr;
		if (nh != AX_IPPROTO_TCP) {
			nh = ax_ipv6_chain(skb, &tcpoff, nh, p);
			if (nh < 0)
				return AX_PK_SUSPECT;
			if (nh != AX_IPPROTO_TCP)
				return AX_PK_OTHER;
		}
		iplen = bpf_ntohs(ip6.payload_len) + sizeof(ip6);
		l3len = tcpoff - off;
		if ((bpf_ntohl(ip6.vtc_flow) >> 28) != 6 || ip6.payload_len == 0) {
			p->why = AX_REASON_IP_HEADER; /* not IPv6, or a jumbogram */
			return AX_PK_SUSPECT;
		}
	} else {
		return AX_PK_OTHER;
	}
	if (tagged) {
		p->why = AX_REASON_VLAN;
		return AX_PK_SUSPECT;
	}
	struct ax_tcphdr tcp;
	if (bpf_skb_load_bytes(skb, tcpoff, &tcp, sizeof(tcp))) {
		p->why = AX_REASON_IP_HEADER;
		return AX_PK_SUSPECT;
	}
	__u32 doff = (tcp.doff_res >> 4) * 4;
	if (doff < 20 || iplen < l3len + doff || off + iplen > skb->len) {
		p->why = AX_REASON_IP_HEADER;
		return AX_PK_SUSPECT;
	}
	p->l4off = tcpoff;
	p->l3len = l3len;
	p->poff = tcpoff + doff;
	p->plen = iplen - l3len - doff;
	p->seq = bpf_ntohl(tcp.seq);
	p->ack = bpf_ntohl(tcp.ack_seq);
	p->sport = bpf_ntohs(tcp.source);
	p->dport = bpf_ntohs(tcp.dest);
	p->tcp_flags = tcp.flags;
	__builtin_memcpy(p->smac, eth.src, 6);
	__builtin_memcpy(p->dmac, eth.dst, 6);
	return AX_PK_TCP;
}

#endif
