/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Every map size and datapath bound in one place. Go reads the same numbers
 * through the generated bindings' BTF (agent/datapath checks them). */
#ifndef AX_MAP_SIZING_H
#define AX_MAP_SIZING_H

/* Decision maps hold two generations (rule 1 of policy_maps.h), so each
 * capacity below is shared by the active and the inactive generation. */
#define AX_MAX_ENDPOINTS 65536
/* Policed-port bitmap: 65536 bits per generation, in 64-bit words. */
#define AX_PORT_WORDS	 1024
#define AX_MAX_POD_IPS	 131072
#define AX_MAX_CIDRS	 65536
#define AX_MAX_CLASSES	 262144
#define AX_MAX_METHODS	 512
#define AX_MAX_PATH_ROWS 262144
#define AX_MAX_GLOBS	 16384

/* Flow table (a plain hash: never evicted, expired by the agent). */
#define AX_MAX_FLOWS 65536
/* Interfaces that front one pod each (endpoint.h). */
#define AX_MAX_IFACES 4096
/* Audit gaps (audit_gap.h): one per policed address or pod interface. */
#define AX_MAX_GAPS (AX_MAX_ENDPOINTS + AX_MAX_IFACES)

/* Rule counters: rule IDs at or above AX_MAX_RULES count against rule 0. */
#define AX_MAX_RULES	16384
#define AX_RULE_STATS	(AX_MAX_RULES * 4)
#define AX_REASON_STATS 32 /* >= AX_REASON_MAX, a power of two */

#define AX_EVENTS_BYTES (1 << 20)

/* Exact deny/audit_deny tallies (telemetry.h): distinct (rule, verdict,
 * source, method, path prefix, endpoint) tuples kept; more go to the
 * per-(rule, verdict) overflow counters. */
#define AX_MAX_DENIALS 16384

/* Parser bounds. */
#define AX_METHOD_MAX	16   /* method bytes kept; longer methods are "unknown" */
#define AX_METHOD_LIMIT 64   /* longer method tokens are not HTTP */
#define AX_PATH_KEY	128  /* = compiler.MaxPathKey */
#define AX_PATH_BUF	256  /* path bytes kept for globs (power of two) */
#define AX_PATH_HKEY	64   /* path bytes of a path_hash key (a multiple of 8) */
#define AX_PATH_LENS	8    /* prefix lengths of one hashed trie (path_lens) */
#define AX_PATH_LIMIT	4096 /* longer paths are malformed_request */
#define AX_PARSE_STEP	32   /* bytes one ax_parse call may examine */
#define AX_PARSE_ROUNDS 128  /* ax_parse + ax_decide calls per ax_parse_rounds call */
#define AX_PARSE_CHUNKS 16   /* ax_parse_rounds calls per packet: 64 KiB of headers */
#define AX_SKIP_WORDS	8    /* 8-byte words of a header value one fast-path step skips */
#define AX_SKIP_TAIL	8    /* then single bytes, up to the byte that ends the run */
#define AX_SKIP_NAME	16   /* header name bytes one fast-path step skips */
#define AX_PATH_RUN	16   /* plain path bytes one fast-path step appends */
#define AX_ROW_GLOBS	16   /* glob candidates per path row */
#define AX_GLOB_CLASSES 64   /* byte classes per glob */
#define AX_GLOB_TOKENS	127  /* tokens per glob (states fit 128 bits) */
#define AX_IPV6_EXT_MAX 8    /* IPv6 extension headers walked; more: dropped */
#define AX_VLAN_MAX	4    /* VLAN tags walked to find a tagged frame's destination */
#define AX_TCP_OPTS_MAX 40   /* TCP option bytes */
#define AX_TCP_OPTS_BUF 64   /* power of two above AX_TCP_OPTS_MAX, for masked indices */
#define AX_RTX_STRIKES	3    /* unverifiable retransmissions dropped before a reset */
#define AX_REPLY_HEAD	512  /* bytes of a 101's first segment searched for "Upgrade: websocket" */

/* Client bytes a flow takes before the server acknowledges one: the
 * window of a SYN-ACK, which is never scaled (RFC 7323 2.2). */
#define AX_SYN_WINDOW 65535

#endif
