/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Counters and the deny/audit event ring. */
#ifndef AX_TELEMETRY_H
#define AX_TELEMETRY_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "axon_shared.h"
#include "flow_state.h"
#include "knobs.h"

/* Requests per (rule, verdict): index rule * 4 + verdict; rules at or above
 * AX_MAX_RULES count against rule 0. Written by the TC program, read by the
 * agent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AX_RULE_STATS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} rule_stats SEC(".maps");

/* Packets per enum ax_reason (other than AX_REASON_POLICY). Written by the
 * TC program, read by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, AX_REASON_STATS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} reason_stats SEC(".maps");

/* struct ax_event records of deny and audit_deny decisions, rate-limited.
 * Written by the TC program, read by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, AX_EVENTS_BYTES);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} events SEC(".maps");

static __always_inline void ax_count_reason(__u32 reason)
{
	__u32 idx = reason & (AX_REASON_STATS - 1);
	__u64 *v = bpf_map_lookup_elem(&reason_stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline void ax_count_rule(__u32 rule, __u32 verdict)
{
	__u32 idx = (rule < AX_MAX_RULES ? rule : 0) * 4 + (verdict & 3);
	__u64 *v = bpf_map_lookup_elem(&rule_stats, &idx);
	if (v)
		*v += 1;
}

/* Deny and audit_deny requests per struct ax_denial_key, counted exactly
 * (atomic adds). Written by the TC program on the deny and audit_deny path
 * only (never for an allowed request), read by the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AX_MAX_DENIALS);
	__type(key, struct ax_denial_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} denials SEC(".maps");

/* Deny and audit_deny requests whose tuple found no room in denials, per
 * (rule, verdict), indexed as rule_stats: summed with denials they equal
 * rule_stats' deny and audit_deny counts. Written by the TC program, read by
 * the agent. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, AX_RULE_STATS);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} denial_overflow SEC(".maps");

/* ax_count_denial tallies the denied request described by the scratch area
 * (rule, verdict, source, endpoint) and, when has_flow, by its flow's
 * method and path. A global function: its copies and map calls are
 * verified once, not at every ax_account site. */
__attribute__((noinline)) int ax_count_denial(struct __sk_buff *skb, __u32 has_flow)
{
	AX_KEEP_ARG(skb);
	struct ax_scratch *s = ax_scratch();
	if (!s)
		return 0;
	struct ax_denial_key *k = &s->dkey;
	__u32 rule = s->rule < AX_MAX_RULES ? s->rule : 0;
	__u32 verdict = s->verdict & 3;
	k->rule = rule;
	k->endpoint = s->ep.id;
	k->verdict = verdict;
	__builtin_memcpy(k->saddr, s->key.saddr, 16);
	__u32 mlen = 0, plen = 0;
	struct ax_flow *f = 0;
	if (has_flow)
		f = bpf_map_lookup_elem(&flows, &s->key);
	if (f) {
		mlen = f->method_len;
		plen = f->path_len;
		k->method_len = mlen <= AX_METHOD_MAX ? mlen : 0xff;
		k->path_len = plen;
		ax_copy_zero_tail((__u64 *)k->method, (const __u64 *)f->method, AX_METHOD_MAX / 8,
				  mlen <= AX_METHOD_MAX ? mlen : 0);
		ax_copy_zero_tail((__u64 *)k->path, (const __u64 *)f->path, AX_PATH_KEY / 8, plen);
	} else {
		k->method_len = 0;
		k->path_len = 0;
		__builtin_memset(k->method, 0, sizeof(k->method));
		__builtin_memset(k->path, 0, sizeof(k->path));
	}
	__u64 *v = bpf_map_lookup_elem(&denials, k);
	if (!v) {
		__u64 one = 1;
		if (bpf_map_update_elem(&denials, k, &one, BPF_NOEXIST) == 0)
			return 0;
		v = bpf_map_lookup_elem(&denials, k); /* another CPU added it */
	}
	if (v) {
		__sync_fetch_and_add(v, 1);
		return 0;
	}
	__u32 idx = rule * 4 + verdict;
	__u64 *o = bpf_map_lookup_elem(&denial_overflow, &idx);
	if (o)
		__sync_fetch_and_add(o, 1);
	return 0;
}

/* ax_rate_ok takes one token of this CPU's bucket. */
static __always_inline int ax_rate_ok(struct ax_scratch *s)
{
	__u64 rate = cfg_event_rate;
	if (rate == 0)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 elapsed = now - s->rl_last_ns;
	if (elapsed > 1000000000ULL)
		elapsed = 1000000000ULL;
	__u64 tokens = s->rl_tokens + elapsed * rate / 1000000000ULL;
	if (tokens > rate)
		tokens = rate;
	if (elapsed * rate >= 1000000000ULL || s->rl_last_ns == 0)
		s->rl_last_ns = now;
	if (tokens == 0) {
		s->rl_tokens = 0;
		return 0;
	}
	s->rl_tokens = tokens - 1;
	return 1;
}

/* ax_account counts the decision in s (verdict, reason, rule), tallies a
 * deny or audit_deny exactly and sends an event for it. f is the flow's map
 * entry (has_flow) or a zeroed template. */
static __always_inline void ax_account(struct __sk_buff *skb, struct ax_scratch *s,
				       struct ax_flow *f, __u32 has_flow)
{
	ax_count_rule(s->rule, s->verdict);
	if (s->reason != AX_REASON_POLICY)
		ax_count_reason(s->reason);
	if (s->verdict == AX_VERDICT_ALLOW)
		return;
	ax_count_denial(skb, has_flow);
	if (!ax_rate_ok(s)) {
		ax_count_reason(AX_REASON_EVENT_LIMITED);
		return;
	}
	struct ax_event *ev = &s->ev;
	ev->type = AX_EVENT_DECISION;
	ev->verdict = s->verdict;
	ev->reason = s->reason;
	ev->method_len = f->method_len;
	ev->sport = s->key.sport;
	ev->dport = s->key.dport;
	ev->rule = s->rule;
	ev->endpoint = s->ep.id;
	ev->identity = s->identity;
	ev->path_len = f->path_len;
	ev->ts_ns = bpf_ktime_get_ns();
	__builtin_memcpy(ev->saddr, s->key.saddr, 16);
	__builtin_memcpy(ev->daddr, s->key.daddr, 16);
	__builtin_memcpy(ev->method, f->method, AX_METHOD_MAX);
	__builtin_memcpy(ev->path, f->path, AX_PATH_KEY);
	if (bpf_ringbuf_output(&events, ev, sizeof(*ev), 0) != 0)
		ax_count_reason(AX_REASON_EVENT_LOST);
}

#endif
