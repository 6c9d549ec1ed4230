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
#include "flow_state.h"

/* What ax_server_sock found. */
enum ax_server_sock {
	AX_SRV_CLEAN = 0,   /* the connection's socket, no client byte received */
	AX_SRV_HOLDS = 1,   /* the connection's socket, client bytes received */
	AX_SRV_UNKNOWN = 2, /* not the connection's socket: nothing, or the listener */
};

/* ax_sock_lookup looks up the server's socket of the connection from
 * client address ca, port cp, to server address sa, port sp, in the
 * namespace of the pod behind interface ifc. The caller releases it.
 *
 * The lookup cannot find sockets bound to a device (a listener with
 * SO_BINDTODEVICE and its children; the children of an IPv6 link-local
 * peer, bound to the pod's interface): the helper matches a bound socket
 * only to the device of the packet, the node's end of the veth. It then
 * finds the listener (also under SYN cookies) or nothing. */
static __always_inline struct bpf_sock *ax_sock_lookup(struct __sk_buff *skb, const __u8 *ca,
						       __u16 cp, const __u8 *sa, __u16 sp, __u8 v6,
						       const struct ax_iface *ifc)
{
	struct bpf_sock_tuple t = {};
	__u32 size;
	if (v6) {
		__builtin_memcpy(t.ipv6.saddr, ca, 16);
		__builtin_memcpy(t.ipv6.daddr, sa, 16);
		t.ipv6.sport = bpf_htons(cp);
		t.ipv6.dport = bpf_htons(sp);
		size = sizeof(t.ipv6);
	} else {
		__builtin_memcpy(&t.ipv4.saddr, ca + 12, 4);
		__builtin_memcpy(&t.ipv4.daddr, sa + 12, 4);
		t.ipv4.sport = bpf_htons(cp);
		t.ipv4.dport = bpf_htons(sp);
		size = sizeof(t.ipv4);
	}
	return bpf_skc_lookup_tcp(skb, &t, size, (__u64)(__s64)ifc->netnsid, 0);
}

/* ax_server_sock looks up the socket that sent SYN-ACK p (a packet from the
 * server) and says whether it has received client bytes already. No SYN the
 * programs let through carries data (SYN data is dropped), so such bytes
 * reached the server some other way: fast-open data taken while nothing
 * policed the endpoint, and the flow the SYN-ACK starts would begin after
 * them. A request socket (an ordinary SYN) holds nothing; a fast-open child
 * in SYN_RECV is a full socket that counts its SYN's data in
 * bytes_received. A device-bound socket (ax_sock_lookup) is AX_SRV_UNKNOWN. */
static __always_inline int ax_server_sock(struct __sk_buff *skb, const struct ax_pkt *p,
					  const struct ax_iface *ifc)
{
	struct bpf_sock *sk =
	    ax_sock_lookup(skb, p->daddr, p->dport, p->saddr, p->sport, p->v6, ifc);
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

/* What the server holds for the connection of a client segment. */
enum ax_server_conn {
	AX_CONN_IN_STEP = 0,   /* the flow's connection, or nothing a segment could open */
	AX_CONN_ELSEWHERE = 1, /* a connection that is not the flow's */
	AX_CONN_NONE = 2,      /* none: the segment reaches the listener */
	AX_CONN_CLOSED = 3,    /* a TIME_WAIT socket: the connection is over */
};

/* ax_server_conn looks up the server's socket of the connection of client
 * segment p, on flow f, and says whether it is that flow's connection. A
 * listener answering with SYN cookies makes a connection of any ACK that
 * reaches it while it holds none for the 4-tuple: the client's stream then
 * starts at that segment (its ISN is seq - 1) if ack - 1 is the cookie of
 * that ISN, and one cookie of a minute gives every other ISN's (cookie =
 * f(4-tuple, minute) + ISN). So once the flow's connection is gone (an RST
 * the server took, a time-out that sends nothing) or before the server
 * made it (its first bytes dropped, a bad checksum), a segment anywhere in
 * the flow's stream may open another, which reads it as a new request
 * where the datapath reads what follows its bytes (class 38, red team
 * rt50).
 *
 * A full socket is the flow's connection if its client stream starts at
 * the flow's first byte (rcv_nxt - bytes_received: the kernel adds every
 * byte it moves rcv_nxt by, FIN included, to bytes_received) and it holds
 * every byte it acknowledged (it has received at least as many bytes as
 * the server's last ACK the flow saw covers, counted in 64 bits: a
 * connection made again at the first byte by a cookie ACK starts there
 * too, having received nothing). A request socket becomes the connection of the
 * SYN-ACK the flow follows (the latest of the 4-tuple: while it lives, the
 * server answers no other SYN). Not found (a device-bound server, no
 * listener) or the listener of an IPv6 link-local peer (whose connection
 * is bound to the pod's device): not known, taken as in step
 * (docs/security.md). */
static __always_inline int ax_server_conn(struct __sk_buff *skb, const struct ax_pkt *p,
					  const struct ax_iface *ifc, const struct ax_flow *f)
{
	struct bpf_sock *sk =
	    ax_sock_lookup(skb, p->saddr, p->sport, p->daddr, p->dport, p->v6, ifc);
	if (!sk)
		return AX_CONN_IN_STEP;
	int found = AX_CONN_IN_STEP;
	__u32 state = sk->state;
	if (state == BPF_TCP_LISTEN) {
		if (!(p->v6 && p->saddr[0] == 0xfe && (p->saddr[1] & 0xc0) == 0x80))
			found = AX_CONN_NONE;
	} else if (state == BPF_TCP_TIME_WAIT) {
		found = AX_CONN_CLOSED;
	} else if (state != BPF_TCP_NEW_SYN_RECV) {
		struct bpf_tcp_sock *tp = bpf_tcp_sock(sk);
		/* What the server acknowledged, as a 64-bit count: at least
		 * 4 GiB more once its ACK went round (a signed distance
		 * between positions turns round at 2 GiB: attacker review
		 * rt56). */
		__u64 acked = (__u32)(f->srv_ack - f->base_seq);
		if (f->srv_wrapped & AX_SW_ACK)
			acked += 1ULL << 32;
		if (tp && (tp->rcv_nxt - (__u32)tp->bytes_received != f->base_seq ||
			   tp->bytes_received < acked))
			found = AX_CONN_ELSEWHERE;
	}
	bpf_sk_release(sk);
	return found;
}

#endif
