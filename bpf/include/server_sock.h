/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the server's own socket of a connection says, looked up in the pod's
 * network namespace from the interface that fronts the pod. */
#ifndef AX_SERVER_SOCK_H
#define AX_SERVER_SOCK_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "axon_shared.h"
#include "endpoint.h"
#include "pkt.h"

/* ax_server_holds_data reports whether the socket that sent SYN-ACK p (a
 * packet from the server) has received client bytes already. No SYN the
 * programs let through carries data (SYN data is dropped), so such bytes
 * reached the server some other way: fast-open data taken while nothing
 * policed the endpoint. The flow the SYN-ACK starts would then begin after
 * bytes the server holds. A TCP fast-open child socket in SYN_RECV is a full
 * socket with bytes_received set; a request socket (an ordinary SYN) is not a
 * full socket and holds nothing. Only on interfaces fronting one pod whose
 * namespace the agent recorded; elsewhere it reports 0 (rule 2 still holds). */
static __always_inline int ax_server_holds_data(struct __sk_buff *skb, const struct ax_pkt *p)
{
	const struct ax_iface *ifc = ax_iface_of(skb);
	if (!ifc || !ifc->has_netns)
		return 0;
	/* The lookup's tuple is that of a packet to the server. */
	struct bpf_sock_tuple t = {};
	__u32 size;
	if (p->v6) {
		__builtin_memcpy(t.ipv6.saddr, p->daddr, 16);
		__builtin_memcpy(t.ipv6.daddr, p->saddr, 16);
		t.ipv6.sport = bpf_htons(p->dport);
		t.ipv6.dport = bpf_htons(p->sport);
		size = sizeof(t.ipv6);
	} else {
		__builtin_memcpy(&t.ipv4.saddr, p->daddr + 12, 4);
		__builtin_memcpy(&t.ipv4.daddr, p->saddr + 12, 4);
		t.ipv4.sport = bpf_htons(p->dport);
		t.ipv4.dport = bpf_htons(p->sport);
		size = sizeof(t.ipv4);
	}
	struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, &t, size, (__u64)(__s64)ifc->netnsid, 0);
	if (!sk)
		return 0;
	struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);
	int held = tp && tp->bytes_received > 0;
	bpf_sk_release(sk);
	return held;
}

#endif
