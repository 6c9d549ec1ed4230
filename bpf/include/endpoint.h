/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Which policed endpoint a packet belongs to. A pod is reached through
 * every address its stack accepts (its pod IPs, but also link-local and
 * secondary addresses): on an interface that fronts exactly one pod (the
 * host side of its veth) every packet is that pod's, whatever its IP
 * address says. Elsewhere the destination address decides. */
#ifndef AX_ENDPOINT_H
#define AX_ENDPOINT_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "axon_shared.h"
#include "pkt.h"
#include "policy_maps.h"

/* ifindex -> the pod behind that interface, for every local pod's veth the
 * agent found (attached or not): the pod a packet sent there is for. Written by the agent before it
 * attaches; not part of a generation (a pod keeps its addresses for life). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AX_MAX_IFACES);
	__type(key, __u32);
	__type(value, struct ax_iface);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} ifaces SEC(".maps");

/* Local pod address (16 bytes) -> the ifindex of the host side of its veth.
 * Written by the agent with ifaces. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, AX_MAX_IFACES * 2);
	__type(key, __u8[16]);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pod_ifindex SEC(".maps");

/* ax_iface_of is the pod recorded for the packet's interface, if any. Looked
 * up only where an endpoint lookup by address missed, or the SYN-ACK of a
 * flow of another device needs it: a hash lookup less on the common path. */
static __always_inline struct ax_iface *ax_iface_of(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	return bpf_map_lookup_elem(&ifaces, &ifindex);
}

/* ax_port_policed says whether some endpoint of generation gen uses port. */
static __always_inline int ax_port_policed(__u32 gen, __u16 port)
{
	__u32 word = gen * AX_PORT_WORDS + port / 64;
	__u64 *bits = bpf_map_lookup_elem(&policed_ports, &word);
	return bits && ((*bits >> (port & 63)) & 1);
}

/* ax_pod_addr is the address the endpoint maps know the pod behind the
 * packet's interface by, in the packet's family where the pod has one. */
static __always_inline const __u8 *ax_pod_addr(const struct ax_iface *ifc, int v6)
{
	if (v6 && ifc->has_v6)
		return ifc->addr6;
	if (ifc->has_v4)
		return ifc->addr4;
	return ifc->addr6;
}

/* ax_is_pod_addr says whether addr is a pod address recorded for the
 * interface (never true without a record). */
static __always_inline int ax_is_pod_addr(const struct ax_iface *ifc, const __u8 *addr)
{
	if (!ifc)
		return 0;
	return (ifc->has_v4 && !__builtin_memcmp(addr, ifc->addr4, 16)) ||
	       (ifc->has_v6 && !__builtin_memcmp(addr, ifc->addr6, 16));
}

/* ax_spoofed says whether a packet carries the address of a local pod
 * (one the agent found behind a veth of this node) but did not come in
 * through that pod's interface: another pod borrowing its identity, or
 * something on the uplink forging it. Locally generated packets (no
 * ingress device) are not checked; nor are addresses of pods elsewhere. */
static __always_inline int ax_spoofed(struct __sk_buff *skb, const __u8 *saddr)
{
	__u32 iif = skb->ingress_ifindex;
	if (iif == 0)
		return 0;
	__u32 *own = bpf_map_lookup_elem(&pod_ifindex, saddr);
	return own && *own != iif;
}

/* ax_link_local says whether an address (16 bytes, IPv4-mapped for IPv4)
 * is an IPv6 link-local one (fe80::/10). Every pod with IPv6 has one besides
 * its pod IPs, and uses it as the source towards another pod's link-local
 * address; no router forwards it, so a packet carrying it came from the
 * link it arrived on. */
static __always_inline int ax_link_local(const __u8 *a)
{
	return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

/* ax_source_pod is the pod whose interface a packet came in through (NULL
 * for one generated on this node, or from an interface with no recorded
 * pod): the identity of a link-local source (see ax_decide), which names
 * no pod by itself. */
static __always_inline struct ax_iface *ax_source_pod(struct __sk_buff *skb)
{
	__u32 iif = skb->ingress_ifindex;
	if (iif == 0)
		return 0;
	return bpf_map_lookup_elem(&ifaces, &iif);
}

/* ax_endpoint_of looks up the endpoint (addr, port) of generation gen, and
 * on a miss the same port of the pod behind the packet's interface. */
static __always_inline struct ax_endpoint *ax_endpoint_of(struct __sk_buff *skb, __u32 gen,
							  const __u8 *addr, __u16 port, int v6)
{
	if (!ax_port_policed(gen, port))
		return 0;
	struct ax_endpoint_key k = {.gen = gen, .port = port};
	__builtin_memcpy(k.addr, addr, 16);
	struct ax_endpoint *ep = bpf_map_lookup_elem(&endpoints, &k);
	if (ep)
		return ep;
	const struct ax_iface *ifc = ax_iface_of(skb);
	if (!ifc)
		return 0;
	__builtin_memcpy(k.addr, ax_pod_addr(ifc, v6), 16);
	return bpf_map_lookup_elem(&endpoints, &k);
}

/* ax_dest_flags returns the AX_EP_* flags of the destination of a packet
 * whose port is unknown or untrusted (a fragment, a tagged frame): those of
 * the pod behind the interface, else those of its address; 0 when neither
 * is policed on any port. */
static __always_inline __u8 ax_dest_flags(__u32 gen, const struct ax_iface *ifc,
					  const struct ax_pkt *p)
{
	struct ax_endpoint_key k = {.gen = gen, .port = AX_PORT_ANY};
	struct ax_endpoint *ep = 0;
	if (p->dst_known) {
		__builtin_memcpy(k.addr, p->daddr, 16);
		ep = bpf_map_lookup_elem(&endpoints, &k);
	}
	if (!ep && ifc) {
		__builtin_memcpy(k.addr, ax_pod_addr(ifc, p->v6), 16);
		ep = bpf_map_lookup_elem(&endpoints, &k);
	}
	return ep ? ep->flags | AX_EP_POLICED : 0;
}

#endif
