/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Types shared with Go (bpf2go -type). Every struct is naturally aligned with
 * explicit padding; agent/datapath's layout test compares them with the BTF
 * of the compiled object. Addresses are IPv6 or IPv4-mapped IPv6
 * (::ffff:a.b.c.d), ports are in host byte order. */
#ifndef AX_SHARED_H
#define AX_SHARED_H

#include <linux/types.h>
#include "map_sizing.h"

/* The enums below are Go's constants too: bpf2go -type generates them into
 * the bindings (bpf.AxonAx...), which policy/table and agent/datapath use;
 * axon_tc.c anchors them in the object's BTF (struct ax_go_types) and a
 * test compares every member with its Go name. */

/* Verdicts. */
enum ax_verdict {
	AX_VERDICT_NONE = 0,
	AX_VERDICT_ALLOW = 1,
	AX_VERDICT_DENY = 2,
	AX_VERDICT_AUDIT_DENY = 3,
};

/* Why a packet was decided or dropped (index of reason_stats). */
enum ax_reason {
	AX_REASON_POLICY = 0,		/* a rule or a default decided */
	AX_REASON_NOT_HTTP = 1,		/* not HTTP/1.x on a policed endpoint */
	AX_REASON_MALFORMED = 2,	/* malformed_request: unparseable within bounds */
	AX_REASON_NON_CANONICAL = 3,	/* non_canonical_path */
	AX_REASON_OUT_OF_ORDER = 4,	/* segment beyond the in-order stream: dropped */
	AX_REASON_FLOW_RESET = 5,	/* segment of a flow already reset: dropped */
	AX_REASON_EVENT_LIMITED = 6,	/* event not sent: rate limit */
	AX_REASON_GLOB_UNDECIDED = 7,	/* a glob the path was too long for decided the verdict */
	AX_REASON_RESET_FAILED = 8,	/* RST could not be built: segment dropped */
	AX_REASON_FRAGMENT = 9,		/* IP fragment to a policed endpoint: dropped */
	AX_REASON_EVENT_LOST = 10,	/* event not sent: ring buffer full */
	AX_REASON_UNVERIFIED = 11,	/* retransmission of bytes the server did not ack */
	AX_REASON_UPGRADE = 12,		/* an Upgrade other than websocket (h2c...): refused */
	AX_REASON_URGENT = 13,		/* TCP urgent data (URG) on a policed flow */
	AX_REASON_SYN_DATA = 14,	/* data in a SYN: dropped */
	AX_REASON_NO_ACK = 15,		/* data without the ACK flag: dropped */
	AX_REASON_NO_FLOW = 16,		/* data on a connection whose start was not seen */
	AX_REASON_VLAN = 17,		/* VLAN-tagged frame to a policed pod: dropped */
	AX_REASON_IP_HEADER = 18,	/* IP header or extension chain not read to its end */
	AX_REASON_FLOW_TABLE_FULL = 19, /* no room for a new connection's state */
	AX_REASON_UPGRADE_PENDING = 20, /* data before the server answered an Upgrade */
	AX_REASON_CONCURRENT = 21,	/* a segment of a flow another CPU is parsing */
	AX_REASON_MPTCP = 22,		/* a SYN's MPTCP option removed (or the SYN dropped) */
	AX_REASON_DESYNC = 23,	/* client and server disagree on the flow's sequence space */
	AX_REASON_SPOOFED = 24, /* a local pod sent with an address not its own */
	AX_REASON_SERVER_UNVERIFIED = 25, /* a SYN-ACK whose server socket holds client bytes, or is
					     not found on a fast-open pod */
	AX_REASON_SERVER_CONN = 26, /* data the server's socket of the flow would not take in step:
				       none (the listener would open a connection), or one whose
				       stream starts elsewhere */
	AX_REASON_MAX = 27,
};

/* Modes of a rule (struct ax_glob.mode). */
enum ax_mode {
	AX_MODE_ENFORCE = 0,
	AX_MODE_AUDIT = 1,
};

/* Outcome of a glob test (decide.h): on a path longer than AX_PATH_BUF the
 * first bytes may not decide. */
enum ax_glob_result {
	AX_GLOB_NO = 0,
	AX_GLOB_YES = 1,
	AX_GLOB_UNDECIDED = 2,
};

/* Constants of the map contents. */
enum ax_wire {
	/* Endpoint flags. */
	AX_EP_ENFORCE = 0x01, /* some Enforce-mode policy protects it */
	AX_EP_POLICED = 0x02, /* set on every entry with port AX_PORT_ANY */
	/* The endpoints entry with this port summarizes every policed port of
	 * its address (flags only): what fragments and tagged frames are
	 * judged by. */
	AX_PORT_ANY = 0,
	/* Event types (first byte of every ring-buffer record). */
	AX_EVENT_DECISION = 1,
	/* LPM keys: bits before the address (struct ax_cidr_key: gen) or the
	 * path (struct ax_path_key: gen, method, class, endpoint), which every
	 * lookup matches in full; an IPv4 address is IPv4-mapped (96 bits of
	 * prefix before it). */
	AX_CIDR_KEY_FIXED_BITS = 8,
	AX_PATH_KEY_FIXED_BITS = 64,
	AX_IPV4_MAPPED_BITS = 96,
};

/* The bounds of map_sizing.h that Go needs. */
enum ax_bound {
	AX_BOUND_PORT_WORDS = AX_PORT_WORDS,
	AX_BOUND_MAX_RULES = AX_MAX_RULES,
	AX_BOUND_REASON_STATS = AX_REASON_STATS,
	AX_BOUND_METHOD_MAX = AX_METHOD_MAX,
	AX_BOUND_METHOD_LIMIT = AX_METHOD_LIMIT,
	AX_BOUND_PATH_KEY = AX_PATH_KEY,
	AX_BOUND_PATH_BUF = AX_PATH_BUF,
	AX_BOUND_PATH_HKEY = AX_PATH_HKEY,
	AX_BOUND_PATH_LENS = AX_PATH_LENS,
	AX_BOUND_PATH_LIMIT = AX_PATH_LIMIT,
	AX_BOUND_ROW_GLOBS = AX_ROW_GLOBS,
	AX_BOUND_GLOB_CLASSES = AX_GLOB_CLASSES,
	AX_BOUND_GLOB_TOKENS = AX_GLOB_TOKENS,
};

/* Anchors the enums in the object's BTF for bpf2go -type (axon_tc.c). */
struct ax_go_types {
	enum ax_verdict verdict;
	enum ax_reason reason;
	enum ax_mode mode;
	enum ax_glob_result glob;
	enum ax_wire wire;
	enum ax_bound bound;
};

struct ax_config {
	__u32 active_gen; /* generation (0 or 1) every lookup uses */
	/* 1 + the generation whose path_lens entries may be used (policy_maps.h
	 * rule 6); 0: none. Agents without path_hash write 0 here (it was
	 * padding), so that their flip makes the programs decide by paths. */
	__u32 hashed_gen;
};

struct ax_endpoint_key {
	__u8 gen;
	__u8 pad;
	__u16 port;
	__u8 addr[16];
};

struct ax_endpoint {
	__u32 id;
	__u8 flags;	     /* AX_EP_* */
	__u8 enforce_action; /* EnforceDefault.Action (1 allow, 2 deny) */
	__u8 full_action;    /* FullDefault.Action */
	__u8 pad;
	__u32 enforce_rule; /* EnforceDefault.Rule */
	__u32 full_rule;    /* FullDefault.Rule */
};

struct ax_addr_key {
	__u8 gen;
	__u8 pad[3];
	__u8 addr[16];
};

/* LPM key: prefixlen counts the generation byte (8 + 96 + n for IPv4). */
struct ax_cidr_key {
	__u32 prefixlen;
	__u8 gen;
	__u8 addr[16];
	__u8 pad[3];
};

struct ax_class_key {
	__u8 gen;
	__u8 pad[3];
	__u32 endpoint;
	__u32 identity;
};

struct ax_method_key {
	__u8 gen;
	__u8 len;
	__u8 pad[2];
	__u8 name[AX_METHOD_MAX];
};

/* LPM key: prefixlen = 64 + 8 * len(PathRow.Prefix) for rows; lookups use
 * the full length. Everything before path is always matched in full. */
struct ax_path_key {
	__u32 prefixlen;
	__u8 gen;
	__u8 method;
	__u16 class;
	__u32 endpoint;
	__u8 path[AX_PATH_KEY];
};

/* A trie of path rows: (gen, method, class, endpoint), the path_lens key. */
struct ax_trie_key {
	__u8 gen;
	__u8 method;
	__u16 class;
	__u32 endpoint;
};

/* The distinct prefix lengths (bytes) of a hashed trie's rows, longest
 * first: n of them, 1 <= n <= AX_PATH_LENS. */
struct ax_path_lens {
	__u32 n;
	__u8 len[AX_PATH_LENS];
};

/* path_hash key: a row of a hashed trie, its prefix of len bytes (at most
 * AX_PATH_HKEY) and zero padding; a lookup puts the first len bytes of the
 * path key (struct ax_path_key) there. */
struct ax_path_hkey {
	struct ax_trie_key trie;
	__u32 len;
	__u8 path[AX_PATH_HKEY];
};

struct ax_match {
	__u32 deny;  /* lowest matching Deny rule, 0 = none */
	__u32 allow; /* lowest matching Allow rule, 0 = none */
};

struct ax_path_val {
	struct ax_match enforce;
	struct ax_match audit;
	__u32 nglobs;
	__u32 globs[AX_ROW_GLOBS]; /* ax_glob_key.id of each candidate */
};

struct ax_glob_key {
	__u8 gen;
	__u8 pad[3];
	__u32 id;
};

struct ax_mask128 {
	__u64 lo;
	__u64 hi;
};

/* A glob compiled to a bit-parallel NFA over byte classes: state j means
 * "the tokens before j matched"; a star token j loops on state j and lets
 * j + 1 be reached without input. For path byte c with class k = class_of[c]:
 *   D = ((D & consume[k]) << 1) | (D & loop[k]);  D |= (D & star) << 1
 * starting from D = closure({0}); the path matches when bit ntok is set. */
struct ax_glob {
	__u32 rule;
	__u8 action; /* 1 allow, 2 deny */
	__u8 mode;   /* 0 enforce, 1 audit */
	__u8 ntok;
	__u8 tail_any; /* 1: the last token is '**' */
	struct ax_mask128 star;
	struct ax_mask128 consume[AX_GLOB_CLASSES];
	struct ax_mask128 loop[AX_GLOB_CLASSES];
	__u8 class_of[256];
};

/* The pod behind an interface (endpoint.h). */
struct ax_iface {
	__u8 addr4[16]; /* IPv4-mapped */
	__u8 addr6[16];
	__u8 has_v4;
	__u8 has_v6;
	__u8 has_netns; /* netnsid says where the pod's sockets are */
	__u8 fastopen;	/* the pod's namespace lets servers take fast-open data */
	__s32
	    netnsid; /* the id of the pod's network namespace in the node's; negative: the node's */
};

struct ax_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
};

/* Key of the exact deny/audit_deny tallies (telemetry.h): one request's
 * rule (clamped as in rule_stats), destination endpoint, source address,
 * method, the first AX_PATH_KEY bytes of its canonical path and verdict.
 * Bytes past method_len and path_len are zero. */
struct ax_denial_key {
	__u32 rule;
	__u32 endpoint;
	__u8 saddr[16];
	__u8 method[AX_METHOD_MAX];
	__u8 path[AX_PATH_KEY];
	__u8 verdict;
	__u8 method_len; /* 0xff: longer than AX_METHOD_MAX (method left empty) */
	__u16 path_len;	 /* of the whole path; path holds the first bytes */
};

struct ax_event {
	__u8 type; /* AX_EVENT_DECISION */
	__u8 verdict;
	__u8 reason;
	__u8 method_len;
	__u16 sport;
	__u16 dport;
	__u32 rule;
	__u32 endpoint;
	__u32 identity;
	__u16 path_len; /* of the whole path; path holds the first bytes */
	__u8 pad[2];
	__u64 ts_ns;
	__u8 saddr[16];
	__u8 daddr[16];
	__u8 method[AX_METHOD_MAX];
	__u8 path[AX_PATH_KEY];
};

#endif
