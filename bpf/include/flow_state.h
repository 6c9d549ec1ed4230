/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Per-flow parser state and the per-CPU scratch area. */
#ifndef AX_FLOW_STATE_H
#define AX_FLOW_STATE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "axon_shared.h"

/* Where a flow's client-to-server byte stream stands. */
enum ax_state {
	AX_ST_LINE = 0,	      /* before or inside a request line */
	AX_ST_HDR = 1,	      /* header lines */
	AX_ST_BODY = 2,	      /* Content-Length body: remaining bytes */
	AX_ST_CHUNK_SIZE = 3, /* chunk-size line */
	AX_ST_CHUNK_DATA = 4, /* chunk data: remaining bytes */
	AX_ST_CHUNK_CRLF = 5, /* CRLF after chunk data */
	AX_ST_TRAILER = 6,    /* trailer lines after the last chunk */
	AX_ST_PASS = 7,	      /* audit-only endpoint gave up parsing: pass */
	AX_ST_RESET = 8,      /* denied: the connection was reset */
	AX_ST_CLOSED = 9,     /* the client sent FIN */
	AX_ST_UPGRADE = 10,   /* an Upgrade: websocket request waits for the server's answer */
	AX_ST_TUNNEL = 11,    /* the server switched protocols (101): not HTTP any more */
};

/* redecide: a request decided in an earlier segment than the one that ends
 * its header section is decided again there, by the policy then in force
 * (the server runs it then). */
#define AX_RD_NONE  0
#define AX_RD_LATER 1 /* decided in an earlier segment */
#define AX_RD_NOW   2 /* being decided again */

/* Request flags. */
#define AX_RF_NONCANON	0x01
#define AX_RF_TOOLONG	0x02
#define AX_RF_STAR	0x04
#define AX_RF_HTTPS	0x08
#define AX_RF_WEBSOCKET 0x10 /* "Upgrade: websocket": set when the headers end */
#define AX_RF_HTTP10	0x20 /* the request line says HTTP/1.0 */

/* Header flags. */
#define AX_HF_CL      0x01 /* Content-Length seen */
#define AX_HF_TE      0x02 /* Transfer-Encoding seen */
#define AX_HF_CHUNKED 0x04 /* last Transfer-Encoding coding is chunked */
#define AX_HF_DIG     0x08 /* a digit of the current number was seen */
#define AX_HF_DIGEND  0x10 /* whitespace after the digits */
#define AX_HF_CR      0x20 /* a CR was seen: only LF may follow */
#define AX_HF_WS      0x40 /* "Upgrade: websocket" seen */

/* What went 2^32 past where it began (srv_wrapped): from then on its
 * position modulo 2^32 no longer tells how far it has gone. */
#define AX_SW_ACK 0x01 /* the server's ACK, from base_seq */
#define AX_SW_NXT 0x02 /* the server's own stream, from srv_isn + 1 */

/* No TCP window is larger than 65535 << 14 (RFC 7323): no more than this
 * is ever in flight unacknowledged, either way. */
#define AX_MAX_WINDOW (1U << 30)

/* AX_WENT_ROUND is 1 if a position moving forward from old to next (both
 * counted from from) passed from + 2^32, else 0; without a branch. */
#define AX_WENT_ROUND(old, next, from)                                                             \
	((__u8)(((__u64)(__u32)((next) - (from)) - (__u64)(__u32)((old) - (from))) >> 63))

struct ax_flow {
	__u32 next_seq; /* first client byte not yet parsed */
	__u32 base_seq; /* first client byte parsed: nothing before it is known */
	__u8 state;	/* enum ax_state */
	__u8 sub;	/* sub-state of state */
	__u8 tgt;	/* request-target sub-state */
	__u8 pct;	/* percent-escape position (0, 1, 2) */
	__u8 pct_hi;
	__u8 abs_pos; /* bytes of "http://" matched; 8: the authority has a host byte */
	__u8 method_len;
	__u8 flags;  /* AX_RF_* */
	__u8 hflags; /* AX_HF_* */
	__u8 name_pos;
	__u8 name_ok; /* bit 0: may be Content-Length, 1: Transfer-Encoding, 2: Upgrade */
	__u8 ver_pos;
	__u8 h0, h1, h2;	   /* last three path bytes */
	__u8 te_pos;		   /* Transfer-Encoding / Upgrade value state (AX_TOK_*) */
	__u16 path_len;		   /* whole path length (capped at AX_PATH_LIMIT) */
	__u8 rtx_strikes;	   /* unverifiable retransmissions dropped since srv_ack moved */
	__u8 nreq;		   /* request lines decided (saturates at 255) */
	__u32 srv_ack;		   /* highest ACK the server sent: it holds the bytes before */
	__u32 srv_isn;		   /* the server's initial sequence number (its SYN-ACK) */
	__u32 ifindex;		   /* the device the server's SYN-ACK came through */
	__u32 srv_nxt;		   /* past the last server byte seen: a client cannot ack beyond */
	struct bpf_spin_lock lock; /* guards busy */
	__u8 srv_fin;		   /* the server sent FIN */
	__u8 busy;		   /* a CPU is parsing a segment of this flow */
	__u8 tun_audit;		   /* the upgrade was answered while nothing was enforced */
	__u8 req_unenf;		   /* the current request was decided while nothing was enforced */
	__u8 redecide;		   /* AX_RD_*: decide the request again where its headers end */
	__u8 unparsed;	  /* the server may hold bytes the flow never parsed (audit_gap.h) */
	__u8 wrapped;	  /* next_seq has gone 2^32 past base_seq: the positions repeat */
	__u8 srv_wrapped; /* AX_SW_*, set by the reply program */
	__u64 last_ns;	  /* last SYN-ACK or client data (the agent expires idle flows) */
	__u64 born_ns;	  /* the SYN-ACK that started the flow */
	__u64 remaining;  /* body or chunk bytes still to skip */
	__u64 value;	  /* number being parsed */
	__u64 cl;	  /* Content-Length of this request */
	__u8 method[AX_METHOD_MAX];
	__u8 path[AX_PATH_BUF];
};

/* Client-to-server streams of policed endpoints, keyed by the client's
 * 4-tuple. Created only from the server's SYN-ACK (the reply program), which
 * tells the first byte the server will take: a connection whose start was
 * not seen is never picked up mid-stream. A plain hash, not an LRU: flooding
 * cannot evict a live connection's state; the agent deletes idle and closed
 * flows. Written by the TC programs and the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AX_MAX_FLOWS);
	__type(key, struct ax_flow_key);
	__type(value, struct ax_flow);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} flows SEC(".maps");

/* A data-less SYN the program let through: the client's initial sequence
 * number and the device it went out through. */
struct ax_syn {
	__u32 isn;
	__u32 ifindex;
};

/* The last data-less SYN let through per client 4-tuple (ax_stream). A
 * SYN-ACK starts a flow in step with the server only if it answers one:
 * the same device, acknowledging the SYN's ISN + 1 and nothing more. Any
 * other (a SYN sent in fragments or while nothing policed the endpoint,
 * or fast-open data the server took) makes a flow that is refused once
 * enforced (audit_gap.h). An LRU: a SYN flood evicts records, and the
 * connections whose record went are refused, never let through. Written
 * by the TC programs. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, AX_MAX_FLOWS);
	__type(key, struct ax_flow_key);
	__type(value, struct ax_syn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} syns SEC(".maps");

/* Per-packet working area shared by ax_parse and ax_decide (one per CPU). */
struct ax_scratch {
	struct ax_flow_key key; /* the flow being parsed */
	__u32 pos;		/* skb offset of the next byte to parse */
	__u32 end;		/* skb offset past the payload */
	__u32 gen;
	__u32 identity;
	__u32 rule;
	__u8 verdict;
	__u8 reason;
	__u8 hashed; /* config's hashed_gen names gen: path_lens may be used */
	__u8 pad;
	struct ax_endpoint ep;
	struct ax_method_key mkey;
	struct ax_addr_key akey;
	struct ax_cidr_key ckey;
	struct ax_class_key clkey;
	struct ax_path_key pkey;
	__u32 pad2;
	struct ax_path_hkey hkey;
	struct ax_trie_key tkey;
	__u32 pad5;
	struct ax_event ev;
	struct ax_denial_key dkey; /* the request being tallied (telemetry.h) */
	__u32 pad4;
	/* A new flow is built here (raw bytes: a per-CPU value may hold no
	 * bpf_spin_lock, so not a struct ax_flow; see ax_new_flow). */
	__u8 init[sizeof(struct ax_flow)] __attribute__((aligned(8)));
	__u8 opts[AX_TCP_OPTS_BUF];	/* a SYN's TCP options being rewritten */
	__u8 opts_old[AX_TCP_OPTS_BUF]; /* and as they were */
	__u32 opt_pos;
	__u32 opt_len;
	__u32 opt_changed;
	__u32 pad3;
	__u64 rl_last_ns; /* event rate limiter */
	__u64 rl_tokens;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ax_scratch);
} scratch SEC(".maps");

/* Global functions must keep their ctx argument alive: otherwise clang may
 * pass an undefined register to a callee that does not read it, and the
 * verifier rejects the call. */
#define AX_KEEP_ARG(x) asm volatile("" : : "r"(x))

/* ax_data and ax_data_end read the packet pointers with a 64-bit load the
 * compiler cannot turn into a 32-bit copy (which the verifier would see as a
 * scalar, not a packet pointer). */
static __always_inline void *ax_data(struct __sk_buff *skb)
{
	void *p;
	asm volatile("%0 = *(u32 *)(%1 + %2)"
		     : "=r"(p)
		     : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, data)));
	return p;
}

static __always_inline void *ax_data_end(struct __sk_buff *skb)
{
	void *p;
	asm volatile("%0 = *(u32 *)(%1 + %2)"
		     : "=r"(p)
		     : "r"(skb), "i"(__builtin_offsetof(struct __sk_buff, data_end)));
	return p;
}

/* ax_mask returns x & m in a way the compiler cannot drop because of an
 * earlier bounds check (the verifier needs to see the AND). */
static __always_inline __u32 ax_mask(__u32 x, __u32 m)
{
	__u64 v = x;
	asm volatile("%0 &= %1" : "+r"(v) : "i"(m));
	return v;
}

static __always_inline struct ax_scratch *ax_scratch(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&scratch, &zero);
}

/* ax_new_flow zeroes the scratch area's flow template and returns it. */
static __always_inline struct ax_flow *ax_new_flow(struct ax_scratch *s)
{
	__builtin_memset(s->init, 0, sizeof(s->init));
	return (struct ax_flow *)s->init;
}

/* Forget the previous request: the next byte may start a request line. */
static __always_inline void ax_req_reset(struct ax_flow *f)
{
	f->state = AX_ST_LINE;
	f->sub = 0;
	f->tgt = 0;
	f->pct = 0;
	f->abs_pos = 0;
	f->method_len = 0;
	f->flags = 0;
	f->hflags = 0;
	f->h0 = 0;
	f->h1 = 0;
	f->h2 = 0;
	f->path_len = 0;
	f->remaining = 0;
	f->value = 0;
	f->cl = 0;
	f->req_unenf = 0;
	f->redecide = AX_RD_NONE;
}

/* ax_copy_zero_tail copies the first n bytes of src into dst and zeroes the
 * rest of dst's words (little-endian byte order within a word). */
static __always_inline void ax_copy_zero_tail(__u64 *dst, const __u64 *src, int words, __u32 n)
{
	for (int i = 0; i < words; i++) {
		__u32 lo = i * 8;
		__u64 w = src[i];
		if (n <= lo)
			w = 0;
		else if (n < lo + 8)
			w &= (1ULL << ((n - lo) * 8)) - 1;
		dst[i] = w;
	}
}

#endif
