package axon.authz

import rego.v1

# Source selection. Written as iteration over known data and negations of
# single tests so that partial evaluation with an unknown input.source leaves
# only label, namespace and CIDR tests (see policy/compiler).

# An ipBlock matches external sources only.
peer_matches(_, peer) if {
	peer.ipBlock
	not input.source.namespace
	net.cidr_contains(peer.ipBlock.cidr, input.source.ip)
	not in_except(peer.ipBlock, input.source.ip)
}

# podSelector and/or namespaceSelector match known pods only.
peer_matches(p, peer) if {
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

namespace_matches(_, peer) if {
	peer.namespaceSelector
	some name, labels in data.axon.namespaces
	selector_matches(peer.namespaceSelector, labels)
	input.source.namespace == name
}

pod_matches(peer) if not peer.podSelector

pod_matches(peer) if {
	peer.podSelector
	selector_matches(peer.podSelector, input.source.labels)
}

# selector_matches is metav1.LabelSelector semantics ({} matches all).
selector_matches(sel, labels) if {
	not label_mismatch(sel, labels)
	not expression_mismatch(sel, labels)
}

label_mismatch(sel, labels) if {
	some k, v in sel.matchLabels
	not labels[k] == v
}

expression_mismatch(sel, labels) if {
	some e in sel.matchExpressions
	e.operator == "In"
	not labels[e.key] in e.values
}

expression_mismatch(sel, labels) if {
	some e in sel.matchExpressions
	e.operator == "NotIn"
	some v in e.values
	labels[e.key] == v
}

expression_mismatch(sel, labels) if {
	some e in sel.matchExpressions
	e.operator == "Exists"
	not labels[e.key]
}

expression_mismatch(sel, labels) if {
	some e in sel.matchExpressions
	e.operator == "DoesNotExist"
	labels[e.key]
}
