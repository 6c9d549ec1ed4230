//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The Axon TC programs. axon_ingress and axon_egress decide every HTTP/1.x
 * request sent to a policed endpoint from the compiled decision maps
 * (include/policy_maps.h), after normalizing the TCP stream so that the
 * bytes they decide on are the bytes the server's stack will deliver
 * (docs/security.md). axon_reply runs on the other direction of the same
 * device and records what only the server can tell: where its stream
 * starts (SYN-ACK), what it has received (ACK), and whether it switched
 * protocols (101). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "include/axon_shared.h"
#include "include/knobs.h"
#include "include/net_hdrs.h"
#include "include/pkt.h"
#include "include/policy_maps.h"
#include "include/endpoint.h"
#include "include/flow_state.h"
#include "include/audit_gap.h"
#include "include/telemetry.h"
#include "include/parse_http.h"
#include "include/decide.h"
#include "include/reset.h"
#include "include/tcp_opts.h"
#include "include/server_sock.h"

char __license[] SEC("license") = "Dual BSD/GPL";

/* Never read: puts the enums Go generates its constants from into the
 * object's BTF (bpf2go -type, axon_shared.h). */
volatile const struct ax_go_types ax_go_types = {};

static __always_inline int ax_drop(__u32 reason)
{
	ax_count_reason(reason);
	return TC_ACT_SHOT;
}

/* ax_port_filter is the fast path for traffic nobody polices: it finds the
 * TCP ports of plain, unfragmented IPv4/IPv6 packets and says whether an
 * endpoint of generation gen uses the destination port (the source port for
 * the reply direction). Anything it cannot read quickly (tags, fragments,
 * extension headers) goes to the full parse. */
static __always_inline int ax_port_filter(struct __sk_buff *skb, __u32 gen, int reply)
{
	void *data = ax_data(skb);
	void *data_end = ax_data_end(skb);
	struct ax_ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 1;
	__u32 l4off;
	if (skb->vlan_present)
		return 1;
	if (eth->proto == bpf_htons(AX_ETH_P_IP)) {
		struct ax_iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return 1;
		if (ip->proto != AX_IPPROTO_TCP)
			return 0;
		if (ip->frag_off & bpf_htons(0x3fff))
			return 1;
		l4off = sizeof(*eth) + (ip->ver_ihl & 0xf) * 4;
	} else if (eth->proto == bpf_htons(AX_ETH_P_IPV6)) {
		struct ax_ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return 1;
		if (ip6->nexthdr != AX_IPPROTO_TCP)
			return 1;
		l4off = sizeof(*eth) + sizeof(*ip6);
	} else {
		return ax_is_vlan(eth->proto);
	}
	struct ax_tcphdr *tcp = data + l4off;
	if ((void *)(tcp + 1) > data_end)
		return 1;
	return ax_port_policed(gen, bpf_ntohs(reply ? tcp->source : tcp->dest));
}

static __always_inline struct ax_config *ax_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&config, &zero);
}

static __always_inline int ax_enforced(struct ax_scratch *s)
{
	return s->ep.flags & AX_EP_ENFORCE;
}

static __always_inline int ax_deny(struct __sk_buff *skb, struct ax_pkt *p, struct ax_flow *f,
				   __u64 redirect_flags)
{
	__u32 server_seq = p->seq;
	if (f) {
		server_seq = f->next_seq;
		f->state = AX_ST_RESET;
	}
	if (ax_reset(skb, p, server_seq, redirect_flags))
		return ax_drop(AX_REASON_RESET_FAILED);
	return TC_ACT_OK;
}

/* ax_give_up stops parsing flow f of an Audit-only endpoint, whose segment
 * passes unparsed; without a flow (none, or one of another device), the
 * segment is an audit gap of its destination (audit_gap.h). */
static __always_inline void ax_give_up(struct __sk_buff *skb, struct ax_scratch *s,
				       struct ax_flow *f)
{
	if (f)
		f->state = AX_ST_PASS;
	else
		ax_audit_gap(skb, s->gen, s->key.daddr);
}

/* ax_refuse handles a segment that cannot be decided by the rules: a deny
 * with a reason on an endpoint with an Enforce-mode policy; otherwise an
 * audit_deny, and the flow is no longer parsed. f may be null (a connection
 * whose start was not seen). */
static __always_inline int ax_refuse(struct __sk_buff *skb, struct ax_pkt *p, struct ax_scratch *s,
				     struct ax_flow *f, __u32 reason, __u64 redirect_flags)
{
	s->reason = reason;
	s->rule = 0;
	s->identity = 0;
	s->verdict = ax_enforced(s) ? AX_VERDICT_DENY : AX_VERDICT_AUDIT_DENY;
	if (f) {
		ax_account(skb, s, f, 1);
	} else {
		ax_account(skb, s, ax_new_flow(s), 0);
	}
	if (ax_enforced(s))
		return ax_deny(skb, p, f, redirect_flags);
	ax_give_up(skb, s, f);
	return TC_ACT_OK;
}

/* ax_discard handles a segment the normalizer will not let through but
 * that is no request to decide (the client's stack retransmits, or it was
 * forged): dropped on an enforced endpoint; on an audit-only one it passes
 * and the flow stops being parsed, since audit never breaks traffic. */
static __always_inline int ax_discard(struct __sk_buff *skb, struct ax_scratch *s,
				      struct ax_flow *f, __u32 reason)
{
	ax_count_reason(reason);
	if (ax_enforced(s))
		return TC_ACT_SHOT;
	ax_give_up(skb, s, f);
	return TC_ACT_OK;
}

/* ax_parse_rounds runs up to AX_PARSE_ROUNDS parser steps over the flow
 * and segment named by the scratch area, deciding each complete request
 * line: AX_P_DONE (payload consumed), AX_P_MORE (budget used), AX_P_DENIED,
 * or the parser's refusal. A global function: the verifier checks its loop
 * once, not once per call, so the caller can loop over it cheaply. */
__attribute__((noinline)) int ax_parse_rounds(struct __sk_buff *skb)
{
	AX_KEEP_ARG(skb);
	for (int round = 0; round < AX_PARSE_ROUNDS; round++) {
		int r = ax_parse(skb);
		if (r == AX_P_MORE)
			continue;
		if (r == AX_P_DECIDE) {
			if (ax_decide(skb) == AX_VERDICT_DENY)
				return AX_P_DENIED;
			continue;
		}
		return r;
	}
	return AX_P_MORE;
}

/* ax_head_open says whether the client's stream stops where a server may
 * take its end as the end of a request head Axon has not decided whole:
 * inside a request line (Python runs "GET /path" as HTTP/0.9, a line Axon
 * never decided); inside a header section (Python's header reader ends the
 * section at the end of the stream, so a request decided in an earlier
 * segment would run without the decision again that its empty line makes:
 * classes 28 and 29 ended by a FIN, class 35); or inside a body whose first
 * line is GET and a target (class 31: a server that reads an unread body as
 * its next request runs it). A FIN there is refused. */
static __always_inline int ax_head_open(struct ax_flow *f)
{
	return (f->state == AX_ST_LINE && f->sub != AX_R_START) || f->state == AX_ST_HDR ||
	       (f->state == AX_ST_BODY && ax_body_get_open(f));
}

/* ax_websocket_pending says whether the segment just parsed ended a
 * connection's first request, an allowed "Upgrade: websocket", with nothing
 * after it: the stream then waits for the server's answer (axon_reply
 * reads it: 101 switches the flow to a tunnel, anything else resumes
 * parsing). An upgrade later in a connection or with a body, and bytes
 * behind an upgrade in its segment, are refused by the parser (class 32). */
static __always_inline int ax_websocket_pending(struct ax_flow *f)
{
	return (f->flags & AX_RF_WEBSOCKET) && f->nreq == 1 && f->state == AX_ST_LINE &&
	       f->sub == AX_R_START;
}

/* ax_parse_payload runs the request parser over the new bytes of the
 * segment, deciding each request as soon as its target is complete. */
static __always_inline int ax_parse_payload(struct __sk_buff *skb, struct ax_pkt *p,
					    struct ax_scratch *s, struct ax_flow *f, __u32 data_seq,
					    __u32 skip, __u64 redirect_flags)
{
	__u32 end = p->poff + p->plen;
	if ((long)skb->data + end > (long)skb->data_end)
		bpf_skb_pull_data(skb, end);
	s->pos = p->poff + skip;
	s->end = end;
	/* A request decided in an earlier segment and not yet whole. */
	__u8 st = f->state;
	if (st == AX_ST_HDR || (st == AX_ST_LINE && f->sub >= AX_R_SP2 && f->sub <= AX_R_CR))
		f->redecide = AX_RD_LATER;

	int r = AX_P_MORE;
	for (int chunk = 0; chunk < AX_PARSE_CHUNKS && r == AX_P_MORE; chunk++)
		r = ax_parse_rounds(skb);
	if (r == AX_P_DONE) {
		/* Refused before next_seq moves past the segment: the server never
		 * gets its bytes, so its reset goes at their first byte (a reset
		 * past what the server holds is ignored, and it would keep the
		 * partial head open). */
		if ((p->tcp_flags & AX_TCP_FIN) && ax_head_open(f))
			return ax_refuse(skb, p, s, f, AX_REASON_MALFORMED, redirect_flags);
		__u32 next = data_seq + p->plen;
		/* Positions count modulo 2^32: note when the stream goes round
		 * (4 GiB), after which a position no longer tells how much
		 * went before (no branch: one more would weigh on every
		 * kernel's verifier). */
		f->wrapped |= AX_WENT_ROUND(f->next_seq, next, f->base_seq);
		f->next_seq = next;
		f->last_ns = bpf_ktime_get_ns();
		if (p->tcp_flags & AX_TCP_FIN) {
			f->state = AX_ST_CLOSED;
			f->next_seq++;
		} else if (ax_websocket_pending(f)) {
			f->state = AX_ST_UPGRADE;
			/* On an Audit-only endpoint the upgrade passes whatever
			 * Enforce would say of it. */
			f->tun_audit = !ax_enforced(s);
		}
		return TC_ACT_OK;
	}
	if (r == AX_P_DENIED)
		return ax_deny(skb, p, f, redirect_flags);
	if (r == AX_P_MORE)
		r = AX_P_MALFORMED; /* more requests in one segment than the bounds allow */
	__u32 reason = AX_REASON_MALFORMED;
	if (r == AX_P_NOT_HTTP)
		reason = AX_REASON_NOT_HTTP;
	else if (r == AX_P_UPGRADE)
		reason = AX_REASON_UPGRADE;
	return ax_refuse(skb, p, s, f, reason, redirect_flags);
}

/* ax_flow_of is the flow of the connection, if the server's SYN-ACK for it
 * came through this device: one created from another device's traffic
 * (another pod forging the server's address) is not this server's. */
static __always_inline struct ax_flow *ax_flow_of(struct __sk_buff *skb, struct ax_flow_key *k)
{
	struct ax_flow *f = bpf_map_lookup_elem(&flows, k);
	if (f && f->ifindex != skb->ifindex)
		return 0;
	return f;
}

/* ax_fin_at handles a FIN at stream position pos on a flow that is parsed.
 * The server's stack takes a FIN at its next byte wherever that is (one it
 * receives ahead waits until the bytes before it come), as the end of the
 * stream, which may end a request line the datapath never decided (class
 * 20). So a FIN passes only where it ends what the datapath saw: at its next
 * byte (refused inside a request head), as a copy of the FIN the flow took,
 * or before the server's acknowledgement (the server holds data there and
 * discards it). Anywhere else, ahead or in place of bytes not acknowledged,
 * it is dropped: a client sends it again after the bytes before it. */
static __always_inline int ax_fin_at(struct __sk_buff *skb, struct ax_pkt *p, struct ax_scratch *s,
				     struct ax_flow *f, __u32 pos, __u64 redirect_flags)
{
	__u8 state = f->state;
	if (pos == f->next_seq && state != AX_ST_RESET && state != AX_ST_CLOSED) {
		if (ax_head_open(f))
			return ax_refuse(skb, p, s, f, AX_REASON_MALFORMED, redirect_flags);
		f->state = AX_ST_CLOSED;
		f->next_seq = pos + 1;
		return TC_ACT_OK;
	}
	if (state == AX_ST_CLOSED && pos + 1 == f->next_seq)
		return TC_ACT_OK;
	if ((__s32)(pos - f->srv_ack) < 0)
		return TC_ACT_OK;
	if ((__s32)(pos - f->next_seq) > 0)
		return ax_discard(skb, s, f, AX_REASON_OUT_OF_ORDER);
	return ax_discard(skb, s, f, AX_REASON_UNVERIFIED);
}

/* ax_conn_checked checks that the server holds flow f's own connection for
 * client data segment p (ax_server_conn). Another connection, or one that
 * is over (TIME_WAIT), refuses the segment. With only the listener found:
 * once the server has acknowledged data (or a tunnel runs), its connection
 * is gone, refused; before, a segment at the flow's first byte goes on (a
 * SYN-cookie connection is made of the first one; a copy of bytes already
 * parsed never passes, rule 3), and one after it is dropped: it overtook
 * the first, which the server has not processed yet, and the client sends
 * it again. Returns -1 to go on. Only on interfaces fronting one pod whose
 * namespace the agent recorded. */
static __always_inline int ax_conn_checked(struct __sk_buff *skb, struct ax_pkt *p,
					   struct ax_scratch *s, struct ax_flow *f,
					   __u64 redirect_flags)
{
	const struct ax_iface *ifc = ax_iface_of(skb);
	if (!ifc || !ifc->has_netns)
		return -1;
	int conn = ax_server_conn(skb, p, ifc, f);
	if (conn == AX_CONN_IN_STEP)
		return -1;
	if (conn == AX_CONN_NONE && f->srv_ack == f->base_seq && !(f->srv_wrapped & AX_SW_ACK) &&
	    f->state != AX_ST_TUNNEL) {
		if (p->seq == f->base_seq)
			return -1;
		return ax_discard(skb, s, f, AX_REASON_SERVER_CONN);
	}
	return ax_refuse(skb, p, s, f, AX_REASON_SERVER_CONN, redirect_flags);
}

/* ax_stream_claimed checks a data segment of a flow this CPU has claimed
 * against the stream and parses its new bytes. */
static __always_inline int ax_stream_claimed(struct __sk_buff *skb, struct ax_pkt *p,
					     struct ax_scratch *s, struct ax_flow *f,
					     __u64 redirect_flags)
{
	__u8 state = f->state;
	if (ax_enforced(s) && ax_flow_lost(f, s->key.daddr)) {
		/* Audit could not follow this stream (audit_gap.h); the
		 * endpoint is enforced now, and where the stream stands is
		 * unknown. */
		return ax_refuse(skb, p, s, f, AX_REASON_NO_FLOW, redirect_flags);
	}
	if (state == AX_ST_PASS || state == AX_ST_TUNNEL) {
		if (state == AX_ST_TUNNEL) {
			int r = ax_conn_checked(skb, p, s, f, redirect_flags);
			if (r >= 0)
				return r;
			/* Where a client RST may fall (ax_client_rst). */
			if ((__s32)(p->seq + p->plen - f->next_seq) > 0)
				f->next_seq = p->seq + p->plen;
		}
		f->last_ns = bpf_ktime_get_ns();
		return TC_ACT_OK;
	}
	if (state == AX_ST_RESET)
		return ax_drop(AX_REASON_FLOW_RESET);
	if (f->req_unenf && (state == AX_ST_LINE || state == AX_ST_HDR) && ax_enforced(s)) {
		/* A request decided while nothing was enforced (Audit let it
		 * through) is not whole yet: the server would run it under
		 * the enforced policy, which never decided it. */
		return ax_refuse(skb, p, s, f, AX_REASON_NO_FLOW, redirect_flags);
	}
	/* A client acknowledges only server bytes that came through here,
	 * from the server's first one (its ISN + 1): another ACK belongs to
	 * another connection of the server's (another SYN cookie's: of this
	 * minute, higher; of the minute before, lower: red team rt49), whose
	 * stream may start elsewhere. */
	__u32 sent = f->srv_nxt - (f->srv_isn + 1); /* server bytes (and FIN), modulo 2^32 */
	if ((f->srv_wrapped & AX_SW_NXT) || sent > AX_MAX_WINDOW)
		sent = AX_MAX_WINDOW; /* no ACK lags further behind */
	/* Measured back from srv_nxt: a signed distance from the first byte
	 * turns negative once the server has sent 2 GiB (every request after
	 * a large download was refused). */
	if ((__s32)(p->ack - f->srv_nxt) > 0 || (__u32)(f->srv_nxt - p->ack) > sent)
		return ax_refuse(skb, p, s, f, AX_REASON_DESYNC, redirect_flags);
	__u32 data_seq = p->seq;
	/* Until the server acknowledges a byte, a client may send no more
	 * than the window of its SYN-ACK, which is never scaled (RFC 7323
	 * 2.2): 65535 bytes. More is no connection of the server's; and a
	 * SYN-cookie server may hold another connection starting exactly
	 * that far past bytes it dropped unseen (a bad checksum, PAWS), which
	 * would then read as this flow's next bytes (red team rt49; the
	 * server's socket, looked up next, says so on pods Axon knows the
	 * namespace of). */
	if (f->srv_ack == f->base_seq && !(f->srv_wrapped & AX_SW_ACK) &&
	    (__s32)(data_seq + p->plen - f->base_seq) > AX_SYN_WINDOW)
		return ax_discard(skb, s, f, AX_REASON_UNVERIFIED);
	int conn = ax_conn_checked(skb, p, s, f, redirect_flags);
	if (conn >= 0)
		return conn;
	__s32 ahead = (__s32)(data_seq - f->next_seq);
	if (ahead > 0)
		return ax_discard(skb, s, f, AX_REASON_OUT_OF_ORDER);
	__u32 skip = (__u32)(-ahead);
	/* Bytes before the first one the server takes: further back than
	 * the flow has parsed. Counted back from next_seq, not as a signed
	 * distance from base_seq, which turns negative once 2 GiB have gone
	 * through (every later segment was discarded: a large upload
	 * stalled). */
	if (!f->wrapped && skip > f->next_seq - f->base_seq)
		return ax_discard(skb, s, f, AX_REASON_OUT_OF_ORDER);
	if (skip > 0) {
		/* Bytes passed before and not acknowledged may never have
		 * reached the server (it drops what it finds invalid), and
		 * this copy may differ from what was parsed: drop it. The
		 * server's ACK of the first copy lets a later one through; a
		 * client that keeps resending is reset. */
		__u32 old_end = skip >= p->plen ? data_seq + p->plen : f->next_seq;
		if ((__s32)(old_end - f->srv_ack) > 0) {
			if (!ax_enforced(s))
				return ax_discard(skb, s, f, AX_REASON_UNVERIFIED);
			if (++f->rtx_strikes >= AX_RTX_STRIKES)
				return ax_refuse(skb, p, s, f, AX_REASON_UNVERIFIED,
						 redirect_flags);
			return ax_drop(AX_REASON_UNVERIFIED);
		}
		if (skip >= p->plen) {
			/* The server has these bytes and discards them, not a
			 * FIN after them. */
			if (p->tcp_flags & AX_TCP_FIN)
				return ax_fin_at(skb, p, s, f, data_seq + p->plen, redirect_flags);
			return TC_ACT_OK;
		}
	}
	/* New bytes beyond any window past what the server acknowledged are
	 * bytes it drops: parsing them would put next_seq 2^31 or more ahead
	 * of srv_ack, where the signed comparisons with it turn round. */
	if ((__u32)(data_seq + p->plen - f->srv_ack) > AX_MAX_WINDOW)
		return ax_discard(skb, s, f, AX_REASON_UNVERIFIED);
	if (state == AX_ST_CLOSED)
		return ax_discard(skb, s, f, AX_REASON_OUT_OF_ORDER); /* data after FIN */
	if (state == AX_ST_UPGRADE)
		return ax_discard(skb, s, f, AX_REASON_UPGRADE_PENDING);
	return ax_parse_payload(skb, p, s, f, data_seq, skip, redirect_flags);
}

/* ax_client_rst handles a client's RST on flow f (if any). The server takes
 * a RST at exactly the next byte it expects, which lies between its last
 * ACK and the flow's next byte, and in some states elsewhere too (one byte
 * before after a FIN, anywhere in the window of a TIME_WAIT socket). A RST
 * in that stretch, where the server may take it while bytes let through
 * after it are on their way or were dropped by the server, is dropped
 * (Audit lets it through). Any other passes, and the flow goes with it, so
 * that no later segment is let through for a connection the server may no
 * longer hold (a SYN cookie's ACK would open another there: class 38); a
 * RST the server ignored leaves a connection whose data is then refused
 * (no_flow). It claims the flow first: a segment another CPU is letting
 * through at that moment could reach the server after the RST. Tunnels keep
 * next_seq at the end of what they let through. */
static __always_inline int ax_client_rst(struct ax_pkt *p, struct ax_scratch *s, struct ax_flow *f)
{
	if (!f)
		return TC_ACT_OK;
	__u8 st = f->state;
	if ((__s32)(p->seq - f->next_seq) < 0 && st != AX_ST_PASS && ax_enforced(s) &&
	    (st == AX_ST_TUNNEL || (__s32)(p->seq - f->srv_ack) >= 0))
		return ax_drop(AX_REASON_UNVERIFIED);
	bpf_spin_lock(&f->lock);
	__u8 busy = f->busy;
	f->busy = 1;
	bpf_spin_unlock(&f->lock);
	if (busy && ax_enforced(s))
		return ax_drop(AX_REASON_CONCURRENT);
	bpf_map_delete_elem(&flows, &s->key);
	return TC_ACT_OK;
}

/* ax_stream applies the TCP normalizer to a segment sent to a policed
 * endpoint and parses what it lets through. The invariant: a byte position
 * of the client's stream is let through with one content only, unless the
 * server has acknowledged it (it then discards every later copy). */
static __always_inline int ax_stream(struct __sk_buff *skb, struct ax_pkt *p, struct ax_scratch *s,
				     __u64 redirect_flags)
{
	__u8 fl = p->tcp_flags;
	struct ax_flow *f = ax_flow_of(skb, &s->key);
	if (fl & AX_TCP_RST)
		return ax_client_rst(p, s, f);
	if (fl & AX_TCP_SYN) {
		/* A SYN never moves the parser (the server's SYN-ACK starts a
		 * flow). Its data is taken only with a fast-open cookie, which
		 * Axon cannot see: refuse it, the client resends it after the
		 * handshake. Audit-only endpoints too: a server that took it
		 * holds bytes before the flow's first one, and (in SYN_RECV)
		 * resends its SYN-ACK, which starts flows afresh (class 34). */
		if (p->plen)
			return ax_drop(AX_REASON_SYN_DATA);
		if (fl & AX_TCP_URG)
			return ax_discard(skb, s, f, AX_REASON_URGENT);
		/* No multipath TCP: the connection stays one byte stream. */
		int st = ax_strip_mptcp(skb, p, s);
		if (st > 0)
			ax_count_reason(AX_REASON_MPTCP);
		if (st < 0 && ax_enforced(s))
			return ax_drop(AX_REASON_MPTCP);
		if (st >= 0) {
			/* What the server's SYN-ACK must answer to start a
			 * flow in step with it. */
			struct ax_syn syn = {.isn = p->seq, .ifindex = skb->ifindex};
			bpf_map_update_elem(&syns, &s->key, &syn, BPF_ANY);
		}
		return TC_ACT_OK;
	}
	if (!(fl & AX_TCP_ACK))
		return p->plen ? ax_discard(skb, s, f, AX_REASON_NO_ACK) : TC_ACT_OK;
	if (fl & AX_TCP_URG) {
		/* The server's stack takes the urgent byte out of the stream
		 * (or not, with SO_OOBINLINE), and remembers a pointer sent
		 * ahead of the data, even in a segment without any: the bytes
		 * it reads are not the ones on the wire. */
		if (!ax_enforced(s) && f && (f->state == AX_ST_PASS || f->state == AX_ST_TUNNEL))
			return TC_ACT_OK;
		return ax_refuse(skb, p, s, f, AX_REASON_URGENT, redirect_flags);
	}
	if (!f) {
		/* A FIN may end a stream the server holds: without a flow,
		 * where it falls is unknown. */
		if (!p->plen)
			return (fl & AX_TCP_FIN) ? ax_discard(skb, s, 0, AX_REASON_NO_FLOW)
						 : TC_ACT_OK;
		/* Never picked up mid-stream: the bytes before are unknown.
		 * Audit-only: counted once, then the connection passes. */
		if (!ax_enforced(s)) {
			struct ax_flow *n = ax_new_flow(s);
			n->state = AX_ST_PASS;
			n->ifindex = skb->ifindex;
			n->last_ns = bpf_ktime_get_ns();
			bpf_map_update_elem(&flows, &s->key, n, BPF_NOEXIST);
		}
		return ax_refuse(skb, p, s, 0, AX_REASON_NO_FLOW, redirect_flags);
	}
	if (p->plen == 0) {
		__u8 st = f->state;
		if (!(fl & AX_TCP_FIN) || st == AX_ST_TUNNEL)
			return TC_ACT_OK;
		/* As for data (ax_stream_claimed): where a stream Audit could
		 * not follow stands is unknown. */
		if (ax_enforced(s) && ax_flow_lost(f, s->key.daddr))
			return ax_refuse(skb, p, s, f, AX_REASON_NO_FLOW, redirect_flags);
		if (st == AX_ST_PASS)
			return TC_ACT_OK;
		return ax_fin_at(skb, p, s, f, p->seq, redirect_flags);
	}
	/* One CPU at a time parses a flow: two copies of the same bytes
	 * parsed at once from the same state could leave the flow in the
	 * state of the copy the server did not take. */
	bpf_spin_lock(&f->lock);
	__u8 busy = f->busy;
	f->busy = 1;
	bpf_spin_unlock(&f->lock);
	if (busy) {
		ax_count_reason(AX_REASON_CONCURRENT);
		if (ax_enforced(s))
			return TC_ACT_SHOT;
		/* Audit lets the copy through unparsed: it may be the one the
		 * server takes. */
		f->unparsed = 1;
		return TC_ACT_OK;
	}
	int ret = ax_stream_claimed(skb, p, s, f, redirect_flags);
	f->busy = 0;
	return ret;
}

/* ax_to_server handles a packet travelling towards the pods behind the
 * device. */
static __always_inline int ax_to_server(struct __sk_buff *skb, __u64 redirect_flags)
{
	struct ax_config *cfg = ax_config();
	if (!cfg)
		return TC_ACT_OK;
	__u32 gen = cfg->active_gen & 1;
	if (!ax_port_filter(skb, gen, 0))
		return TC_ACT_OK;

	struct ax_pkt p = {};
	int kind = ax_classify(skb, &p);
	if (kind == AX_PK_OTHER)
		return TC_ACT_OK;
	if (kind == AX_PK_SUSPECT) {
		/* More tags than we walk: nobody can tell whose it is. */
		if (!p.dst_known)
			return ax_drop(p.why);
		__u8 flags = ax_dest_flags(gen, ax_iface_of(skb), &p);
		if (!flags)
			return TC_ACT_OK;
		ax_count_reason(p.why);
		if (flags & AX_EP_ENFORCE)
			return TC_ACT_SHOT;
		ax_audit_gap(skb, gen, p.daddr);
		return TC_ACT_OK;
	}
	struct ax_endpoint *ep = ax_endpoint_of(skb, gen, p.daddr, p.dport, p.v6);
	if (!ep)
		return TC_ACT_OK;
	/* A link-local source is the identity of the pod whose interface
	 * it came in through (ax_decide): from another interface, whose it
	 * is cannot be told. */
	if (ax_spoofed(skb, p.saddr) ||
	    (ax_link_local(p.saddr) && skb->ingress_ifindex != 0 && !ax_source_pod(skb))) {
		ax_count_reason(AX_REASON_SPOOFED);
		if (ep->flags & AX_EP_ENFORCE)
			return TC_ACT_SHOT;
		ax_audit_gap(skb, gen, p.daddr);
		return TC_ACT_OK;
	}

	struct ax_scratch *s = ax_scratch();
	if (!s)
		return TC_ACT_SHOT;
	__builtin_memcpy(s->key.saddr, p.saddr, 16);
	__builtin_memcpy(s->key.daddr, p.daddr, 16);
	s->key.sport = p.sport;
	s->key.dport = p.dport;
	s->gen = gen;
	/* Read apart from active_gen: any mix of an old and a new config
	 * either names gen or does not (then paths decides, which holds every
	 * row of every generation). */
	s->hashed = cfg->hashed_gen == gen + 1;
	s->ep = *ep;
	return ax_stream(skb, &p, s, redirect_flags);
}

#define AX_S_HTTP11 0x312e312f50545448ULL /* "HTTP/1.1" */

#define AX_S_UPGRADE_C 0x3a65646172677075ULL /* "upgrade:" */

/* ax_reply_line looks at the line of a response head that starts at
 * off + i: 2 when it is the empty line that ends the head, 1 when it is
 * "Upgrade: websocket" (case-insensitive, optional whitespace), else 0.
 * A function of its own, verified once. */
__attribute__((noinline)) int ax_reply_line(struct __sk_buff *skb, __u32 off, __u32 i, __u32 n)
{
	AX_KEEP_ARG(skb);
	__u8 b[2];
	if (i >= n || bpf_skb_load_bytes(skb, off + i, b, 1))
		return 2;
	if (b[0] == '\r' || b[0] == '\n')
		return 2;
	__u64 name;
	if (i + 8 > n || bpf_skb_load_bytes(skb, off + i, &name, 8))
		return 0;
	if ((name | 0x0020202020202020ULL) != AX_S_UPGRADE_C)
		return 0;
	__u32 k = i + 8;
	for (int w = 0; w < 8; w++) {
		if (bpf_skb_load_bytes(skb, off + k, b, 1))
			return 0;
		if (b[0] != ' ' && b[0] != '\t')
			break;
		k++;
	}
	__u64 v;
	if (k + 10 > n || bpf_skb_load_bytes(skb, off + k, &v, 8) ||
	    bpf_skb_load_bytes(skb, off + k + 8, b, 2))
		return 0;
	return (v | 0x2020202020202020ULL) == AX_S_WEBSOCKE && (b[0] | 0x20) == 't' &&
	       (b[1] == '\r' || b[1] == '\n');
}

/* ax_reply_ws says whether the response head at off (n bytes in this
 * segment) has the line "Upgrade: websocket" before its end, within
 * AX_REPLY_HEAD bytes. */
__attribute__((noinline)) int ax_reply_ws(struct __sk_buff *skb, __u32 off, __u32 n)
{
	AX_KEEP_ARG(skb);
	for (__u32 i = 12; i < AX_REPLY_HEAD; i++) {
		__u8 c;
		if (i + 1 >= n || bpf_skb_load_bytes(skb, off + i, &c, 1))
			return 0;
		if (c != '\n')
			continue;
		int r = ax_reply_line(skb, off, i + 1, n);
		if (r != 0)
			return r == 1;
	}
	return 0;
}

/* ax_reply_101 says whether the server's first response bytes, at off (n
 * bytes in this segment), switch to the WebSocket protocol: a 101 status
 * line is not enough (Go's net/http sends a handler's WriteHeader(101) as
 * a final response and goes on reading HTTP); the head must also say
 * "Upgrade: websocket" (RFC 9110 7.8, RFC 6455 4.2.2), in this segment. */
static __always_inline int ax_reply_101(struct __sk_buff *skb, __u32 off, __u32 n)
{
	__u8 b[13];
	if (bpf_skb_load_bytes(skb, off, b, sizeof(b)))
		return 0;
	__u64 head;
	__builtin_memcpy(&head, b, 8);
	if (!(head == AX_S_HTTP11 && b[8] == ' ' && b[9] == '1' && b[10] == '0' && b[11] == '1' &&
	      b[12] == ' '))
		return 0;
	return ax_reply_ws(skb, off, n);
}

/* ax_from_server handles a packet a policed server sends back. */
static __always_inline int ax_from_server(struct __sk_buff *skb)
{
	struct ax_config *cfg = ax_config();
	if (!cfg)
		return TC_ACT_OK;
	__u32 gen = cfg->active_gen & 1;
	if (!ax_port_filter(skb, gen, 1))
		return TC_ACT_OK;
	struct ax_pkt p = {};
	if (ax_classify(skb, &p) != AX_PK_TCP)
		return TC_ACT_OK;
	__u32 ifindex = skb->ifindex;
	if (!ax_endpoint_of(skb, gen, p.saddr, p.sport, p.v6))
		return TC_ACT_OK;

	struct ax_flow_key k = {.sport = p.dport, .dport = p.sport};
	__builtin_memcpy(k.saddr, p.daddr, 16);
	__builtin_memcpy(k.daddr, p.saddr, 16);
	__u8 fl = p.tcp_flags;
	struct ax_flow *f = bpf_map_lookup_elem(&flows, &k);
	if ((fl & (AX_TCP_SYN | AX_TCP_ACK)) == (AX_TCP_SYN | AX_TCP_ACK)) {
		/* The server accepted a SYN: its stream starts at p.ack. A
		 * repeated SYN-ACK of the same connection changes nothing
		 * while nothing was parsed; once something was, the server
		 * (SYN cookies answer the same SYN identically) is starting
		 * its connection afresh, and so does the flow. A flow of
		 * another device is replaced only from the interface of the
		 * pod whose address the SYN-ACK carries. */
		if (f && f->ifindex == ifindex && f->srv_isn == p.seq && f->base_seq == p.ack &&
		    f->next_seq == f->base_seq && f->state == AX_ST_LINE && f->sub == 0)
			return TC_ACT_OK;
		if (f && f->ifindex != ifindex && !ax_is_pod_addr(ax_iface_of(skb), p.saddr))
			return TC_ACT_OK;
		struct ax_scratch *s = ax_scratch();
		if (!s)
			return TC_ACT_OK;
		struct ax_flow *n = ax_new_flow(s);
		n->next_seq = p.ack;
		n->base_seq = p.ack;
		n->srv_ack = p.ack;
		n->srv_isn = p.seq;
		n->srv_nxt = p.seq + 1;
		n->ifindex = ifindex;
		n->last_ns = bpf_ktime_get_ns();
		n->born_ns = n->last_ns;
		/* A SYN-ACK that answers no SYN let through here (one sent in
		 * fragments, or while nothing policed the endpoint), or that
		 * acknowledges more than it (fast-open data the server took):
		 * the server may hold bytes before the flow's first one. */
		struct ax_syn *syn = bpf_map_lookup_elem(&syns, &k);
		n->unparsed = !syn || syn->ifindex != ifindex || syn->isn + 1 != p.ack;
		/* The record cannot say whether the server took that SYN: one
		 * it dropped (a bad checksum) may sit where fast-open data the
		 * server took while nothing policed it ends. The server's own
		 * socket says whether it holds client bytes already
		 * (server_sock.h). */
		if (!n->unparsed && ax_server_unverified(skb, &p, ax_iface_of(skb))) {
			n->unparsed = 1;
			ax_count_reason(AX_REASON_SERVER_UNVERIFIED);
		}
		if (f) {
			/* It may be the same connection's SYN-ACK again: a
			 * fast-open server in SYN_RECV resends it, holding the
			 * SYN's data. What Audit could not follow of the flow
			 * (audit_gap.h) still counts against it. */
			if (f->born_ns && f->born_ns < n->born_ns)
				n->born_ns = f->born_ns;
			n->unparsed |= ax_audit_lost(f);
		}
		/* An MPTCP SYN-ACK answers a SYN whose MPTCP option no program
		 * removed (one sent while nothing policed the endpoint): the
		 * server would assemble its reads from several subflows. The
		 * option goes (the client falls back to plain TCP) and the
		 * flow is refused once enforced. */
		if (ax_strip_mptcp(skb, &p, s)) {
			n->unparsed = 1;
			ax_count_reason(AX_REASON_MPTCP);
		}
		if (bpf_map_update_elem(&flows, &k, n, BPF_ANY))
			ax_count_reason(AX_REASON_FLOW_TABLE_FULL);
		return TC_ACT_OK;
	}
	if (!f || f->ifindex != ifindex)
		return TC_ACT_OK;
	if (fl & AX_TCP_RST) {
		bpf_map_delete_elem(&flows, &k);
		return TC_ACT_OK;
	}
	__u32 end = p.seq + p.plen + ((fl & AX_TCP_FIN) ? 1 : 0);
	if ((__s32)(end - f->srv_nxt) > 0) {
		f->srv_wrapped |= AX_SW_NXT * AX_WENT_ROUND(f->srv_nxt, end, f->srv_isn + 1);
		f->srv_nxt = end;
	}
	__u8 st = f->state;
	if ((fl & AX_TCP_ACK) && st != AX_ST_PASS && st != AX_ST_TUNNEL) {
		if ((__s32)(p.ack - f->next_seq) > 0) {
			/* The server holds client bytes Axon never let through:
			 * its connection is not the one this flow follows (e.g.
			 * another SYN cookie's). Nothing more is let through. */
			f->state = AX_ST_RESET;
			ax_count_reason(AX_REASON_DESYNC);
		} else if ((__s32)(p.ack - f->srv_ack) > 0) {
			f->srv_wrapped |= AX_SW_ACK * AX_WENT_ROUND(f->srv_ack, p.ack, f->base_seq);
			f->srv_ack = p.ack;
			f->rtx_strikes = 0;
		}
	}
	if (f->state == AX_ST_UPGRADE && p.plen > 0 && p.seq == f->srv_isn + 1) {
		/* The response to the connection's first request. */
		if (ax_reply_101(skb, p.poff, p.plen))
			f->state = AX_ST_TUNNEL;
		else
			ax_req_reset(f);
	}
	if (fl & AX_TCP_FIN) {
		f->srv_fin = 1;
		if (f->state == AX_ST_CLOSED)
			bpf_map_delete_elem(&flows, &k);
	}
	return TC_ACT_OK;
}

/* For a device whose ingress carries client-to-server traffic. */
SEC("tc")
int axon_ingress(struct __sk_buff *skb)
{
	return ax_to_server(skb, 0);
}

/* For a device whose egress carries client-to-server traffic (the host side
 * of a pod's veth). */
SEC("tc")
int axon_egress(struct __sk_buff *skb)
{
	return ax_to_server(skb, BPF_F_INGRESS);
}

/* For the other direction of the same device: server-to-client traffic. */
SEC("tc")
int axon_reply(struct __sk_buff *skb)
{
	return ax_from_server(skb);
}
