/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the server's own socket of a connection says, looked up in the pod's
 * network namespace from the interface that fronts the pod. */
#ifndef AX_SERVER_SOCK_H
#define AX_SERVER_SOCK_H

#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "axon_shared.h"
#include "pkt.h"

/* What ax_server_sock found. */
enum ax_server_sock {
	AX_SRV_CLEAN = 0,   /* the connection's socket, no client byte received */
	AX_SRV_HOLDS = 1,   /* the connection's socket, client bytes received */
	AX_SRV_UNKNOWN = 2, /* not the connection's socket: nothing, or the listener */
};

/* ax_server_sock looks up the socket that sent SYN-ACK p (a packet from the
 * server) in the namespace of the pod behind interface ifc, and says whether
 * it has received client bytes already. No SYN the programs let through
 * carries data (SYN data is dropped), so such bytes reached the server some
 * other way: fast-open data taken while nothing policed the endpoint, and
 * the flow the SYN-ACK starts would begin after them. A request socket (an
 * ordinary SYN) holds nothing; a fast-open child in SYN_RECV is a full
 * socket that counts its SYN's data in bytes_received.
 *
 * The lookup cannot find sockets bound to a device (a listener with
 * SO_BINDTODEVICE and its children; the children of an IPv6 link-local
 * peer, bound to the pod's interface): the helper matches a bound socket
 * only to the device of the packet, the node's end of the veth. It then
 * finds the listener (also under SYN cookies) or nothing: AX_SRV_UNKNOWN. */
static __always_inline int ax_server_sock(struct __sk_buff *skb, const struct ax_pkt *p,
					  const struct ax_iface *ifc)
{
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
		return AX_SRV_UNKNOWN;
	int found = AX_SRV_UNKNOWN;
	__u32 state = sk->state;
	if (state == BPF_TCP_NEW_SYN_RECV) {
		found = AX_SRV_CLEAN;
	} else if (state != BPF_TCP_LISTEN) {
		struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);
		if (tp)
			found = tp->bytes_received ? AX_SRV_HOLDS : AX_SRV_CLEAN;
	}
	bpf_sk_release(sk);
	return found;
}

/* ax_server_unverified reports whether a SYN-ACK that answers the SYN
 * recorded for its connection must still not start a flow in step: on an
 * interface fronting one pod whose namespace the agent recorded, the
 * server's socket holds client bytes already, or it cannot be found while
 * the pod's namespace lets servers take fast-open data (a device-bound
 * listener, a link-local peer or SYN cookies on such a pod: refused rather
 * than trusted). Elsewhere rule 2's SYN record alone decides. */
static __always_inline int ax_server_unverified(struct __sk_buff *skb, const struct ax_pkt *p,
						const struct ax_iface *ifc)
{
	if (!ifc || !ifc->has_netns)
		return 0;
	int found = ax_server_sock(skb, p, ifc);
	return found == AX_SRV_HOLDS || (found == AX_SRV_UNKNOWN && ifc->fastopen);
}

#endif
