/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Audit gaps: segments an Audit-only endpoint let through without parsing
 * them into a flow: rule-1 frames (IP fragments, tagged frames), a spoofed
 * source, data no flow of this device accounts for (a connection whose start
 * was not seen, one recorded on another device), a copy racing
 * another CPU's. The server may have taken their bytes, so a flow of that
 * endpoint that was open then no longer knows what the server holds: once
 * the endpoint is enforced, such a flow is refused (no_flow), as one Audit
 * gave up parsing is (class 34). */
#ifndef AX_AUDIT_GAP_H
#define AX_AUDIT_GAP_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "axon_shared.h"
#include "endpoint.h"
#include "flow_state.h"
#include "knobs.h"

/* A frame's timestamp is taken before the server's stack sees it, and a
 * flow's birth (its SYN-ACK) before any byte of its connection is taken,
 * but for a server in SYN_RECV that took the data of a SYN sent in a
 * rule-1 frame: it resends its SYN-ACK for as long as it waits for the
 * client's ACK (63 s with the default 5 retries), and a flow deleted
 * meanwhile (a RST at its next byte that the server ignored) is born again
 * from one of them. So a flow born up to cfg_gap_slack_ns (knobs.h) after
 * a recorded gap counts as open then. */
/* Where an audit gap went: the destination address (addr, ifindex 0), or
 * the pod behind the interface it went out through (addr 0, ifindex). */
struct ax_gap_key {
	__u8 addr[16];
	__u32 ifindex;
};

/* Last audit gap per destination. A plain hash: its keys are policed
 * addresses and pod interfaces only (ax_audit_gap). Written by the TC
 * program. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, AX_MAX_GAPS);
	__type(key, struct ax_gap_key);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} audit_gaps SEC(".maps");

/* any_ns: the last audit gap anywhere (0: none since the maps were
 * created), so flows born after it skip the per-destination lookups.
 * all_ns: the last gap audit_gaps had no room for, which counts against
 * every flow. Written by the TC program. */
struct ax_gap_clock {
	__u64 any_ns;
	__u64 all_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ax_gap_clock);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} audit_gap_clock SEC(".maps");

/* ax_audit_gap records a gap of a segment towards daddr (generation gen):
 * under the address if some policy polices it, else under the pod
 * interface it goes out through. So the keys are policed addresses and pod
 * interfaces, whatever addresses a sender makes up. */
static __always_inline void ax_audit_gap(struct __sk_buff *skb, __u32 gen, const __u8 *daddr)
{
	__u32 zero = 0;
	struct ax_gap_clock *c = bpf_map_lookup_elem(&audit_gap_clock, &zero);
	if (!c)
		return;
	__u64 now = bpf_ktime_get_ns();
	struct ax_endpoint_key ek = {.gen = gen, .port = AX_PORT_ANY};
	__builtin_memcpy(ek.addr, daddr, 16);
	struct ax_gap_key k = {};
	if (!bpf_map_lookup_elem(&endpoints, &ek) && ax_iface_of(skb))
		k.ifindex = skb->ifindex;
	else
		__builtin_memcpy(k.addr, daddr, 16);
	if (bpf_map_update_elem(&audit_gaps, &k, &now, BPF_ANY))
		c->all_ns = now;
	c->any_ns = now;
}

/* ax_gap_since says whether a gap recorded at *ns (may be null) may have
 * touched a flow born at born. */
static __always_inline int ax_gap_since(const __u64 *ns, __u64 born)
{
	return ns && *ns && *ns + cfg_gap_slack_ns >= born;
}

/* ax_audit_lost says whether flow f itself records that the server may
 * hold bytes it never parsed: Audit gave up on its stream, let a tunnel
 * open that no enforced policy allowed, or let a copy of it through
 * unparsed; or its SYN-ACK answered no SYN seen here. */
static __always_inline int ax_audit_lost(const struct ax_flow *f)
{
	return f->unparsed || f->state == AX_ST_PASS || (f->state == AX_ST_TUNNEL && f->tun_audit);
}

/* ax_flow_lost says whether the server may hold bytes of flow f (of the
 * connection to daddr) that it never parsed: ax_audit_lost, or an audit gap
 * of its destination since (or up to the slack before) its birth. Once the
 * endpoint is enforced, such a flow is refused. */
static __always_inline int ax_flow_lost(const struct ax_flow *f, const __u8 *daddr)
{
	if (ax_audit_lost(f))
		return 1;
	__u32 zero = 0;
	struct ax_gap_clock *c = bpf_map_lookup_elem(&audit_gap_clock, &zero);
	if (!c)
		return 1;
	if (!ax_gap_since(&c->any_ns, f->born_ns))
		return 0;
	if (ax_gap_since(&c->all_ns, f->born_ns))
		return 1;
	struct ax_gap_key k = {};
	__builtin_memcpy(k.addr, daddr, 16);
	if (ax_gap_since(bpf_map_lookup_elem(&audit_gaps, &k), f->born_ns))
		return 1;
	__builtin_memset(k.addr, 0, 16);
	k.ifindex = f->ifindex;
	return ax_gap_since(bpf_map_lookup_elem(&audit_gaps, &k), f->born_ns);
}

#endif
