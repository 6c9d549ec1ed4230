package axon.authz

import rego.v1

# Source selection. Written as iteration over known data, `every` over known
# lists and negations of single tests so that partial evaluation with an unknown input.source leaves
# only label, namespace and CIDR tests (see policy/compiler).

# An ipBlock in an Allow rule matches external sources only (as in Cilium:
# CIDR rules do not select pods, so an Allow ipBlock never opens a pod up
# by address). An ipBlock in a Deny rule matches every source whose IP it
# contains, pods included: a Deny never silently misses a pod inside it.
peer_matches(_, r, peer) if {
	peer.ipBlock
	rule_action(r) == "Allow"
	not input.source.namespace
	net.cidr_contains(peer.ipBlock.cidr, input.source.ip)
	not in_except(peer.ipBlock, input.source.ip)
}

peer_matches(_, r, peer) if {
	peer.ipBlock
	rule_action(r) == "Deny"
	net.cidr_contains(peer.ipBlock.cidr, input.source.ip)
	not in_except(peer.ipBlock, input.source.ip)
}

# podSelector and/or namespaceSelector match known pods only.
peer_matches(p, _, peer) if {
	not peer.ipBlock
	input.source.namespace
	namespace_matches(p, peer)
	pod_matches(peer)
}

in_except(block, ip) if {
	some e in block.except
	net.cidr_contains(e, ip)
}

namespace_matches(p, peer) if {
	not peer.namespaceSelector
	input.source.namespace == p.metadata.namespace
}

# The names are gathered first so that partial evaluation leaves one
# membership test rather than one query per matching namespace.
namespace_matches(_, peer) if {
	peer.namespaceSelector
	names := {name |
		some name, labels in data.axon.namespaces
		selector_matches(peer.namespaceSelector, labels)
	}
	count(names) > 0
	input.source.namespace in names
}

pod_matches(peer) if not peer.podSelector

pod_matches(peer) if {
	peer.podSelector
	selector_matches(peer.podSelector, input.source.labels)
}

# selector_matches is metav1.LabelSelector semantics ({} matches all).
selector_matches(sel, labels) if {
	object.subset(labels, object.get(sel, "matchLabels", {}))
	every e in object.get(sel, "matchExpressions", []) {
		requirement_matches(e, labels)
	}
}

requirement_matches(e, labels) if {
	e.operator == "In"
	labels[e.key] in e.values
}

requirement_matches(e, labels) if {
	e.operator == "NotIn"
	every v in e.values {
		not labels[e.key] == v
	}
}

requirement_matches(e, labels) if {
	e.operator == "Exists"
	labels[e.key]
}

requirement_matches(e, labels) if {
	e.operator == "DoesNotExist"
	not labels[e.key]
}
