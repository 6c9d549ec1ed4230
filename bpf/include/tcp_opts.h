/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* TCP options the normalizer rewrites. A SYN's MPTCP option (kind 30)
 * would let the server's stack assemble the bytes its application reads
 * from several connections, in an order of the client's choosing (DSS
 * mappings), which no per-connection parser can follow: it is turned into
 * NOPs, so the connection is plain TCP for both ends. */
#ifndef AX_TCP_OPTS_H
#define AX_TCP_OPTS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "net_hdrs.h"
#include "pkt.h"
#include "flow_state.h"

#define AX_TCPOPT_EOL	0
#define AX_TCPOPT_NOP	1
#define AX_TCPOPT_MPTCP 30
#define AX_TCP_OPTS_MAX 40
#define AX_TCP_OPTS_BUF 64 /* power of two above AX_TCP_OPTS_MAX, for masked indices */
#define AX_TCP_CSUM_OFF 16

/* ax_opt_step reads the option at s->opt_pos of the options copied into
 * the scratch area, turning it into NOPs if it is MPTCP: 1 to go on, 0 at
 * the end. A global function, so that the caller's loop over the options
 * costs the verifier one pass, whatever the bytes. */
__attribute__((noinline)) int ax_opt_step(struct __sk_buff *skb)
{
	AX_KEEP_ARG(skb);
	struct ax_scratch *s = ax_scratch();
	if (!s)
		return 0;
	__u32 i = s->opt_pos, n = s->opt_len;
	if (i >= n || i >= AX_TCP_OPTS_MAX)
		return 0;
	__u8 kind = s->opts[i & (AX_TCP_OPTS_BUF - 1)];
	if (kind == AX_TCPOPT_EOL)
		return 0;
	if (kind == AX_TCPOPT_NOP) {
		s->opt_pos = i + 1;
		return 1;
	}
	if (i + 1 >= n)
		return 0;
	__u32 len = s->opts[(i + 1) & (AX_TCP_OPTS_BUF - 1)];
	if (len < 2)
		return 0; /* the server's stack stops reading here too */
	if (kind == AX_TCPOPT_MPTCP) {
		for (int j = 0; j < AX_TCP_OPTS_MAX; j++) {
			if (j >= len || i + j >= n)
				break;
			s->opts[(i + j) & (AX_TCP_OPTS_BUF - 1)] = AX_TCPOPT_NOP;
		}
		s->opt_changed = 1;
	}
	s->opt_pos = i + len;
	return 1;
}

/* ax_strip_mptcp replaces every MPTCP option of the segment's TCP header by
 * NOPs and fixes the checksum. It returns 1 when it changed the segment, 0
 * when there was nothing to change, -1 when it could not rewrite it. */
static __always_inline int ax_strip_mptcp(struct __sk_buff *skb, struct ax_pkt *p,
					  struct ax_scratch *s)
{
	__u32 optlen = p->poff - p->l4off - sizeof(struct ax_tcphdr);
	if (optlen == 0)
		return 0;
	if (optlen > AX_TCP_OPTS_MAX)
		return -1;
	__u32 n = ((optlen - 1) & (AX_TCP_OPTS_BUF - 1)) + 1;
	if (bpf_skb_load_bytes(skb, p->l4off + sizeof(struct ax_tcphdr), s->opts, n))
		return -1;
	__builtin_memcpy(s->opts_old, s->opts, sizeof(s->opts));
	s->opt_pos = 0;
	s->opt_len = n;
	s->opt_changed = 0;
	for (int k = 0; k < AX_TCP_OPTS_MAX; k++) {
		if (!ax_opt_step(skb))
			break;
	}
	if (!s->opt_changed)
		return 0;
	/* Options are a multiple of 4 bytes long (doff counts words). */
	__u32 words = (n / 4) & 15;
	__s64 diff =
	    bpf_csum_diff((__be32 *)s->opts_old, words * 4, (__be32 *)s->opts, words * 4, 0);
	if (diff < 0)
		return -1;
	if (bpf_skb_store_bytes(skb, p->l4off + sizeof(struct ax_tcphdr), s->opts, n, 0))
		return -1;
	if (bpf_l4_csum_replace(skb, p->l4off + AX_TCP_CSUM_OFF, 0, diff, 0))
		return -1;
	return 1;
}

#endif
