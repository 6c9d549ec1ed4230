/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The decision maps: written by agent/datapath from a compiler.Table, read by
 * ax_decide. Key layouts are in axon_shared.h.
 *
 * Rules (the contract with agent/datapath and policy/compiler/table.go):
 *  1. Every key starts with a generation (0 or 1). config[0].active_gen is
 *     read once per packet and every lookup of that packet uses it. The agent
 *     writes a new table into the inactive generation (a diff against what
 *     that generation held), then flips active_gen: a packet sees one whole
 *     table, never a mix.
 *  2. endpoints: (gen, dst addr, dst port) -> endpoint. A miss means "not
 *     policed": the packet passes untouched. Nothing else is wildcarded.
 *     policed_ports (word gen * AX_PORT_WORDS + port / 64, bit port % 64)
 *     has the bit of every port some endpoint of that generation uses: a
 *     clear bit skips the endpoint lookup. It is a filter, never a decision.
 *  3. Source identity: pod_ips (exact address) first, else cidrs (longest
 *     prefix), else world (1). Pod IPs never fall through to CIDRs.
 *  4. classes: (gen, endpoint, identity) -> source class; a miss is class 0.
 *  5. methods: (gen, token length, token) -> method id; a miss (or a token
 *     longer than AX_METHOD_MAX) is MethodUnknown (0).
 *  6. paths: LPM over (gen, method, class, endpoint, path key). The path key
 *     is the path, a NUL, zero padding, cut to AX_PATH_KEY bytes. Rows carry
 *     prefixlen 64 + 8 * len(prefix): only the path may be wildcarded, and
 *     only as a byte prefix (exact patterns end in NUL, so they match only
 *     the whole path; "" matches every path). The agent merges MethodAny's
 *     rows into the trie of every method that has rows (each prefix gets
 *     the combination of both tries' longest rows, and a "" row is always
 *     there), so one lookup decides: the request's method id, or MethodAny
 *     (255) when the method is unknown (0) or has no trie.
 *     paths always holds every row. The rows of a trie (method, class,
 *     endpoint) with at most AX_PATH_LENS distinct prefix lengths, none
 *     longer than AX_PATH_HKEY, are also in path_hash, and path_lens has
 *     the trie's lengths, longest first: the longest row that prefixes the
 *     path is then the first hit of one hash lookup per length (the bytes
 *     compared are the same as the trie's). path_lens is used only when
 *     config[0].hashed_gen is 1 + the active generation: an agent that
 *     knows nothing of path_hash (a downgrade) leaves a generation's
 *     path_lens and path_hash entries stale when it writes paths, and its
 *     flip writes 0 there, so that programs of this version still attached
 *     decide by its paths rows. A trie without a path_lens entry (or any
 *     trie, when hashed_gen does not name the generation) is looked up in
 *     paths. Programs that know nothing of path_hash (an agent being
 *     upgraded) still decide by paths alone.
 *  7. Match values combine by taking, per mode and action, the lowest
 *     non-zero rule id. Then each glob candidate named by the row
 *     (globs map, at most AX_ROW_GLOBS per row) that could lower one of those
 *     ids is tested on the whole path and folded in the same way. A path
 *     longer than AX_PATH_BUF cannot be tested: a Deny glob then counts as
 *     matching and an Allow glob as not matching (fail closed, reason
 *     glob_undecided).
 *  8. Precedence (docs/semantics.md "Decision"): enforce verdict = Deny if an
 *     enforce Deny matched, else Allow if an enforce Allow matched, else the
 *     endpoint's enforce default. Full verdict = the same over enforce and
 *     audit matches with the full default. Enforce deny -> deny; else full
 *     deny -> audit_deny (reported against the full verdict's rule); else
 *     allow (reported against the enforce verdict's rule).
 *  9. Non-canonical paths, unparseable requests and non-HTTP bytes on an
 *     endpoint with AX_EP_ENFORCE are denied with rule 0 and a reason;
 *     without it they are counted as audit_deny and the flow is no longer
 *     parsed. */
#ifndef AX_POLICY_MAPS_H
#define AX_POLICY_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "axon_shared.h"

/* The active generation. Written by the agent (last step of an update). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ax_config);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} config SEC(".maps");

/* Ports of all endpoints, per generation (rule 2). Agent-written. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2 * AX_PORT_WORDS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} policed_ports SEC(".maps");

/* Policed (addr, port) -> endpoint id, flags and defaults. Agent-written. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AX_MAX_ENDPOINTS);
	__type(key, struct ax_endpoint_key);
	__type(value, struct ax_endpoint);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} endpoints SEC(".maps");

/* Known pod address -> identity. Agent-written. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AX_MAX_POD_IPS);
	__type(key, struct ax_addr_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_ips SEC(".maps");

/* External address prefix -> CIDR identity. Agent-written. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, AX_MAX_CIDRS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ax_cidr_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cidrs SEC(".maps");

/* (endpoint, identity) -> source class. Agent-written. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AX_MAX_CLASSES);
	__type(key, struct ax_class_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} classes SEC(".maps");

/* Method token -> method id. Agent-written. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AX_MAX_METHODS);
	__type(key, struct ax_method_key);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} methods SEC(".maps");

/* The path trie rows of every (endpoint, class, method). Agent-written. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, AX_MAX_PATH_ROWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ax_path_key);
	__type(value, struct ax_path_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} paths SEC(".maps");

/* The rows of the tries with a path_lens entry, by exact prefix (rule 6).
 * Agent-written, sized as paths. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AX_MAX_PATH_ROWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ax_path_hkey);
	__type(value, struct ax_path_val);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} path_hash SEC(".maps");

/* The prefix lengths of each trie in path_hash (rule 6). Agent-written,
 * sized as paths. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AX_MAX_PATH_ROWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ax_trie_key);
	__type(value, struct ax_path_lens);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} path_lens SEC(".maps");

/* Compiled glob candidates referenced by path rows. Agent-written. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AX_MAX_GLOBS);
	__type(key, struct ax_glob_key);
	__type(value, struct ax_glob);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} globs SEC(".maps");

#endif
