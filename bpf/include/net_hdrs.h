/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Wire formats of the headers the datapath reads and writes. */
#ifndef AX_NET_HDRS_H
#define AX_NET_HDRS_H

#include <linux/types.h>

#define AX_ETH_P_IP	    0x0800
#define AX_ETH_P_IPV6	    0x86DD
#define AX_ETH_P_8021Q	    0x8100
#define AX_ETH_P_8021AD	    0x88A8
#define AX_ETH_P_QINQ1	    0x9100
#define AX_IPPROTO_TCP	    6
#define AX_IPPROTO_HOPOPTS  0
#define AX_IPPROTO_ROUTING  43
#define AX_IPPROTO_FRAGMENT 44
#define AX_IPPROTO_DSTOPTS  60
#define AX_IPPROTO_AH	    51
#define AX_IPPROTO_ESP	    50

#define AX_TCP_FIN 0x01
#define AX_TCP_SYN 0x02
#define AX_TCP_RST 0x04
#define AX_TCP_PSH 0x08
#define AX_TCP_ACK 0x10
#define AX_TCP_URG 0x20

struct ax_ethhdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
} __attribute__((packed));

struct ax_iphdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 proto;
	__u16 check;
	__be32 saddr;
	__be32 daddr;
};

struct ax_ipv6hdr {
	__be32 vtc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct ax_tcphdr {
	__be16 source;
	__be16 dest;
	__be32 seq;
	__be32 ack_seq;
	__u8 doff_res;
	__u8 flags;
	__be16 window;
	__u16 check;
	__be16 urg_ptr;
};

#endif
