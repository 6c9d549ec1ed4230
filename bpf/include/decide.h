/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Decision of one request (method and target known): the lookups and precedence of
 * policy_maps.h rules 3-9. */
#ifndef AX_DECIDE_H
#define AX_DECIDE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "axon_shared.h"
#include "flow_state.h"
#include "policy_maps.h"
#include "endpoint.h"
#include "telemetry.h"

static __always_inline void ax_shl1(__u64 *lo, __u64 *hi)
{
	*hi = (*hi << 1) | (*lo >> 63);
	*lo = *lo << 1;
}

/* ax_glob_match runs the glob's NFA (struct ax_glob) over the flow's path. */
__attribute__((noinline)) int ax_glob_match(struct __sk_buff *skb, __u32 id)
{
	AX_KEEP_ARG(skb);
	struct ax_scratch *s = ax_scratch();
	if (!s)
		return AX_GLOB_UNDECIDED;
	struct ax_flow *f = bpf_map_lookup_elem(&flows, &s->key);
	if (!f)
		return AX_GLOB_UNDECIDED;
	struct ax_glob_key k = {.gen = s->gen, .id = id};
	struct ax_glob *g = bpf_map_lookup_elem(&globs, &k);
	if (!g)
		return AX_GLOB_UNDECIDED;
	__u32 n = f->path_len;

	__u64 slo = g->star.lo, shi = g->star.hi;
	__u64 lo = 1, hi = 0;
	__u64 tlo = lo & slo, thi = hi & shi;
	ax_shl1(&tlo, &thi);
	lo |= tlo;
	hi |= thi;
	for (__u32 i = 0; i < AX_PATH_BUF; i++) {
		if (i >= n)
			break;
		__u8 c = f->path[ax_mask(i, AX_PATH_BUF - 1)];
		__u32 k2 = ax_mask(g->class_of[c], AX_GLOB_CLASSES - 1);
		__u64 alo = lo & g->consume[k2].lo, ahi = hi & g->consume[k2].hi;
		ax_shl1(&alo, &ahi);
		lo = alo | (lo & g->loop[k2].lo);
		hi = ahi | (hi & g->loop[k2].hi);
		tlo = lo & slo;
		thi = hi & shi;
		ax_shl1(&tlo, &thi);
		lo |= tlo;
		hi |= thi;
		if ((lo | hi) == 0)
			return AX_GLOB_NO;
	}
	__u32 m = g->ntok & 127;
	if (n > AX_PATH_BUF) {
		/* Only the first AX_PATH_BUF bytes are known. A trailing '**'
		 * whose state is live matches whatever follows. */
		__u32 j = (m - 1) & 127;
		__u64 live = j < 64 ? (lo >> j) : (hi >> (j - 64));
		if (g->tail_any && m > 0 && (live & 1))
			return AX_GLOB_YES;
		return AX_GLOB_UNDECIDED;
	}
	__u64 bit = m < 64 ? (lo >> m) : (hi >> (m - 64));
	return (bit & 1) ? AX_GLOB_YES : AX_GLOB_NO;
}

static __always_inline __u32 ax_min_rule(__u32 a, __u32 b)
{
	if (a == 0)
		return b;
	if (b == 0)
		return a;
	return a < b ? a : b;
}

static __always_inline void ax_fold(struct ax_match *dst, const struct ax_match *m)
{
	dst->deny = ax_min_rule(dst->deny, m->deny);
	dst->allow = ax_min_rule(dst->allow, m->allow);
}

/* Glob matches of the request being decided, in a map rather than on the
 * stack so that the verifier does not track their values through the glob
 * loop (which would multiply its states). The first four fail closed (an
 * undecided Deny glob matches, an undecided Allow glob does not); the last
 * four assume the opposite, so that ax_decide can tell whether undecided
 * globs made the verdict. Written by ax_decide, one per CPU. */
struct ax_glob_acc {
	/* Lowest matching rule per (assumption, mode, action): index
	 * x * 4 + mode * 2 + deny, x = 1 for the opposite assumption. */
	__u32 r[8];
	__u32 nglobs; /* the row's glob candidates, copied for ax_try_globs */
	__u32 ids[AX_ROW_GLOBS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ax_glob_acc);
} glob_acc SEC(".maps");

/* ax_try_globs folds the glob candidates copied into acc (ids, nglobs) that
 * could lower a rule id into acc's matches. A global function: the verifier
 * checks its loop once, not as part of every ax_decide path (which older
 * verifiers cannot afford). */
__attribute__((noinline)) int ax_try_globs(struct __sk_buff *skb)
{
	AX_KEEP_ARG(skb);
	struct ax_scratch *s = ax_scratch();
	if (!s)
		return 0;
	__u32 zero = 0;
	struct ax_glob_acc *acc = bpf_map_lookup_elem(&glob_acc, &zero);
	if (!acc)
		return 0;
	__u32 n = acc->nglobs;
	for (__u32 i = 0; i < AX_ROW_GLOBS; i++) {
		if (i >= n)
			break;
		struct ax_glob_key k = {.gen = s->gen, .id = acc->ids[i]};
		struct ax_glob *g = bpf_map_lookup_elem(&globs, &k);
		if (!g)
			continue;
		__u32 rule = g->rule;
		__u32 deny = g->action == AX_VERDICT_DENY;
		__u32 t = ((g->mode & 1) * 2 + deny) & 3;
		__u32 tr = acc->r[t], xr = acc->r[t + 4];
		if (tr != 0 && tr <= rule && xr != 0 && xr <= rule)
			continue;
		int r = ax_glob_match(skb, k.id);
		if (r == AX_GLOB_NO)
			continue;
		/* Undecided: fails closed (a Deny matches, an Allow does not);
		 * the opposite assumption for x. */
		if (r == AX_GLOB_YES || deny)
			acc->r[t] = ax_min_rule(tr, rule);
		if (r == AX_GLOB_YES || !deny)
			acc->r[t + 4] = ax_min_rule(xr, rule);
	}
	return 0;
}

/* ax_precedence applies policy_maps.h rule 8 to the Enforce-mode matches em
 * and the Audit-mode matches am; returns the verdict and sets *rule. */
static __always_inline __u32 ax_precedence(const struct ax_endpoint *ep, const struct ax_match *em,
					   const struct ax_match *am, __u32 *rule)
{
	__u32 ev, er, fv, fr;
	if (em->deny) {
		ev = AX_VERDICT_DENY;
		er = em->deny;
	} else if (em->allow) {
		ev = AX_VERDICT_ALLOW;
		er = em->allow;
	} else {
		ev = ep->enforce_action;
		er = ep->enforce_rule;
	}
	__u32 fd = ax_min_rule(em->deny, am->deny), fa = ax_min_rule(em->allow, am->allow);
	if (fd) {
		fv = AX_VERDICT_DENY;
		fr = fd;
	} else if (fa) {
		fv = AX_VERDICT_ALLOW;
		fr = fa;
	} else {
		fv = ep->full_action;
		fr = ep->full_rule;
	}
	if (ev == AX_VERDICT_DENY) {
		*rule = er;
		return AX_VERDICT_DENY;
	}
	if (fv == AX_VERDICT_DENY) {
		*rule = fr;
		return AX_VERDICT_AUDIT_DENY;
	}
	*rule = er;
	return AX_VERDICT_ALLOW;
}

/* ax_trie_row is the row of trie (gen, method, class, endpoint) for the
 * flow's path (rule 6): from path_hash when the config's hashed_gen names
 * gen and path_lens has the trie, else
 * from paths, whose key s->pkey holds all but the method. NULL when the
 * trie has no row that prefixes the path (or does not exist). */
static __always_inline struct ax_path_val *ax_trie_row(struct ax_scratch *s, struct ax_flow *f,
						       __u8 method)
{
	struct ax_trie_key *tk = &s->tkey;
	tk->gen = s->pkey.gen;
	tk->method = method;
	tk->class = s->pkey.class;
	tk->endpoint = s->pkey.endpoint;
	struct ax_path_lens *l = 0;
	if (s->hashed)
		l = bpf_map_lookup_elem(&path_lens, tk);
	if (!l) {
		s->pkey.method = method;
		return bpf_map_lookup_elem(&paths, &s->pkey);
	}
	struct ax_path_hkey *hk = &s->hkey;
	hk->trie = *tk;
	__u32 plen = f->path_len, n = l->n;
	for (__u32 i = 0; i < AX_PATH_LENS; i++) {
		if (i >= n)
			break;
		__u32 len = l->len[i];
		/* A row longer than the path and its NUL would have to hold a
		 * NUL before its end: none does. */
		if (len > plen + 1)
			continue;
		hk->len = len;
		/* The first len bytes of the path key: the path, then zeros
		 * (its NUL and padding). */
		ax_copy_zero_tail((__u64 *)hk->path, (const __u64 *)f->path, AX_PATH_HKEY / 8,
				  len < plen ? len : plen);
		struct ax_path_val *row = bpf_map_lookup_elem(&path_hash, hk);
		if (row)
			return row;
	}
	return 0;
}

/* ax_decide decides the flow's request (its method and target), counts it
 * (also in the flow's nreq), and leaves the verdict, rule and reason in the
 * scratch area. Returns the verdict. */
__attribute__((noinline)) int ax_decide(struct __sk_buff *skb)
{
	AX_KEEP_ARG(skb);
	struct ax_scratch *s = ax_scratch();
	if (!s)
		return AX_VERDICT_DENY;
	struct ax_flow *f = bpf_map_lookup_elem(&flows, &s->key);
	if (!f)
		return AX_VERDICT_DENY;
	/* Decided again where its header section ends (AX_RD_NOW): the same
	 * request, counted once, and accounted again only if now denied. */
	__u8 again = f->redecide == AX_RD_NOW;
	f->redecide = AX_RD_NONE;
	if (!again && f->nreq < 255)
		f->nreq++;
	f->req_unenf = !(s->ep.flags & AX_EP_ENFORCE);
	__u32 zero = 0;
	struct ax_glob_acc *acc = bpf_map_lookup_elem(&glob_acc, &zero);
	if (!acc)
		return AX_VERDICT_DENY;
	__u32 gen = s->gen;
	s->reason = AX_REASON_POLICY;
	s->rule = 0;
	s->identity = 0;

	if (f->flags & (AX_RF_TOOLONG | AX_RF_NONCANON)) {
		s->reason =
		    (f->flags & AX_RF_TOOLONG) ? AX_REASON_MALFORMED : AX_REASON_NON_CANONICAL;
		s->verdict =
		    (s->ep.flags & AX_EP_ENFORCE) ? AX_VERDICT_DENY : AX_VERDICT_AUDIT_DENY;
		if (!again || s->verdict == AX_VERDICT_DENY)
			ax_account(skb, s, f, 1);
		return s->verdict;
	}

	/* Method id (rule 5). */
	__u32 mid = 0;
	__u8 mlen = f->method_len;
	if (mlen <= AX_METHOD_MAX) {
		struct ax_method_key *mk = &s->mkey;
		mk->gen = gen;
		mk->len = mlen;
		mk->pad[0] = 0;
		mk->pad[1] = 0;
		ax_copy_zero_tail((__u64 *)mk->name, (const __u64 *)f->method, AX_METHOD_MAX / 8,
				  mlen);
		__u32 *m = bpf_map_lookup_elem(&methods, mk);
		if (m)
			mid = *m & 0xff;
	}

	/* Source identity (rule 3). */
	__u32 identity = 1;
	struct ax_addr_key *ak = &s->akey;
	__builtin_memset(ak, 0, sizeof(*ak));
	ak->gen = gen;
	__builtin_memcpy(ak->addr, s->key.saddr, 16);
	if (ax_link_local(ak->addr)) {
		/* A pod's link-local address is none of its pod IPs: the pod
		 * is the one whose interface the packet came in through
		 * (ax_to_server refuses one from anywhere else). */
		const struct ax_iface *ifc = ax_source_pod(skb);
		if (ifc)
			__builtin_memcpy(ak->addr, ax_pod_addr(ifc, 1), 16);
	}
	__u32 *id = bpf_map_lookup_elem(&pod_ips, ak);
	if (id) {
		identity = *id;
	} else {
		struct ax_cidr_key *ck = &s->ckey;
		__builtin_memset(ck, 0, sizeof(*ck));
		ck->prefixlen = AX_CIDR_KEY_FIXED_BITS + 128;
		ck->gen = gen;
		__builtin_memcpy(ck->addr, ak->addr, 16);
		id = bpf_map_lookup_elem(&cidrs, ck);
		if (id)
			identity = *id;
	}
	s->identity = identity;

	/* Source class (rule 4). */
	__u32 class = 0;
	struct ax_class_key *ck2 = &s->clkey;
	__builtin_memset(ck2, 0, sizeof(*ck2));
	ck2->gen = gen;
	ck2->endpoint = s->ep.id;
	ck2->identity = identity;
	__u32 *cl = bpf_map_lookup_elem(&classes, ck2);
	if (cl)
		class = *cl;

	/* Path rows (rules 6, 7). */
	struct ax_path_key *pk = &s->pkey;
	pk->prefixlen = AX_PATH_KEY_FIXED_BITS + 8 * AX_PATH_KEY;
	pk->gen = gen;
	pk->class = class;
	pk->endpoint = s->ep.id;
	__u32 plen = f->path_len;
	ax_copy_zero_tail((__u64 *)pk->path, (const __u64 *)f->path, AX_PATH_KEY / 8, plen);

	/* A method with rows of its own has a merged trie that already holds
	 * MethodAny's rows (rule 6): one trie. Otherwise MethodAny's. */
	struct ax_match em = {}, am = {};
	struct ax_path_val *row = 0;
	if (mid != 0)
		row = ax_trie_row(s, f, mid);
	if (!row)
		row = ax_trie_row(s, f, 255);
	int undecided = 0;
	struct ax_match xm = {}, xa = {};
	if (row) {
		ax_fold(&em, &row->enforce);
		ax_fold(&am, &row->audit);
		if (row->nglobs) {
			acc->r[0] = em.allow;
			acc->r[1] = em.deny;
			acc->r[2] = am.allow;
			acc->r[3] = am.deny;
			acc->r[4] = em.allow;
			acc->r[5] = em.deny;
			acc->r[6] = am.allow;
			acc->r[7] = am.deny;
			acc->nglobs = row->nglobs;
			__builtin_memcpy(acc->ids, row->globs, sizeof(acc->ids));
			ax_try_globs(skb);
			em.allow = acc->r[0];
			em.deny = acc->r[1];
			am.allow = acc->r[2];
			am.deny = acc->r[3];
			xm.allow = acc->r[4];
			xm.deny = acc->r[5];
			xa.allow = acc->r[6];
			xa.deny = acc->r[7];
			undecided = em.deny != xm.deny || em.allow != xm.allow ||
				    am.deny != xa.deny || am.allow != xa.allow;
		}
	}

	/* Precedence (rule 8). glob_undecided counts the requests whose
	 * verdict an undecided glob changed. */
	__u32 rule = 0;
	__u32 v = ax_precedence(&s->ep, &em, &am, &rule);
	if (undecided) {
		__u32 xrule = 0;
		if (ax_precedence(&s->ep, &xm, &xa, &xrule) != v)
			s->reason = AX_REASON_GLOB_UNDECIDED;
	}
	s->verdict = v;
	s->rule = rule;
	if (!again || v == AX_VERDICT_DENY)
		ax_account(skb, s, f, 1);
	return s->verdict;
}

#endif
