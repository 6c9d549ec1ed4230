# METADATA
# title: Axon HTTP authorization
# description: |
#   The semantics of docs/semantics.md. Input: method, path (canonical),
#   source{namespace, labels, ip} (namespace and labels absent for external
#   sources), destination{namespace, labels, port}. Data: data.axon.policies
#   (L7NetworkPolicy objects as JSON, defaults filled in) and
#   data.axon.namespaces (namespace name -> labels). Policies written in Rego
#   (spec.rego) are evaluated through data.axon.user["<namespace>/<name>"]
#   (their allow and deny rules).
package axon.authz

import rego.v1

# decision is {"action": "allow" | "deny" | "audit_deny", "rule": rule ref or
# null}; a rule ref is {"namespace", "policy", "index"} (index -1: the
# policy's defaultAction).
default decision := {"action": "allow", "rule": null}

decision := {"action": "deny", "rule": enforce_verdict.rule} if {
	path_canonical
	enforce_verdict.action == "deny"
}

decision := {"action": "audit_deny", "rule": full_verdict.rule} if {
	path_canonical
	enforce_verdict.action == "allow"
	full_verdict.action == "deny"
}

decision := {"action": "allow", "rule": enforce_verdict.rule} if {
	path_canonical
	enforce_verdict.action == "allow"
	full_verdict.action == "allow"
}

# A path not in canonical form is decided before any rule (docs/semantics.md
# "Non-canonical paths are denied"); the compiler and the datapath never pass
# one to the rules.
decision := {"action": "deny", "rule": null, "reason": "non_canonical_path"} if {
	not path_canonical
	enforced
}

decision := {"action": "audit_deny", "rule": null, "reason": "non_canonical_path"} if {
	not path_canonical
	not enforced
	policed
}

# path_canonical is true when input.path is a canonical path in its
# canonical form: httppath.Check accepts it and httppath.Canonical leaves it
# as it is.
path_canonical if input.path == "*"

path_canonical if {
	regex.match(`^/[!-~]*$`, input.path)
	not regex.match(`[\\;#?]|//|/\.\.?(/|$)|%([^0-9A-Fa-f]|.[^0-9A-Fa-f]|.?$)`, input.path)
	not regex.match(`%(2[DEF]|3[0-9]|4[1-9A-F]|5[0-9ACF]|6[1-9A-F]|7[0-9AE])`, input.path)
	canonical_path(input.path) == input.path
}

# policed is true when some policy protects the destination endpoint.
default policed := false

policed if count(protecting) > 0

# enforced is true when some Enforce-mode policy protects the destination:
# requests that cannot be decided by rules (non-canonical paths, not HTTP)
# are then denied rather than counted.
default enforced := false

enforced if {
	some i in protecting
	mode(data.axon.policies[i]) == "Enforce"
}

# enforce_verdict is the verdict of the Enforce-mode policies.
enforce_verdict := verdict({r | some r in matched; r.mode == "Enforce"}, {i | some i in protecting; mode(data.axon.policies[i]) == "Enforce"})

# full_verdict is the verdict of all policies together.
full_verdict := verdict(matched, protecting)

verdict(rules, policies) := {"action": "deny", "rule": lowest({r | some r in rules; r.action == "Deny"})} if {
	some r in rules
	r.action == "Deny"
} else := {"action": "allow", "rule": lowest({r | some r in rules; r.action == "Allow"})} if {
	some r in rules
	r.action == "Allow"
} else := {"action": "deny", "rule": lowest({default_ref(data.axon.policies[i]) | some i in policies; default_action(data.axon.policies[i]) == "Deny"})} if {
	some i in policies
	default_action(data.axon.policies[i]) == "Deny"
} else := {"action": "allow", "rule": lowest({default_ref(data.axon.policies[i]) | some i in policies})} if {
	count(policies) > 0
} else := {"action": "allow", "rule": null}

# lowest is the rule ref first in (namespace, policy, index) order.
lowest(refs) := ref if {
	keys := {[r.namespace, r.policy, r.index] | some r in refs}
	k := min(keys)
	ref := {"namespace": k[0], "policy": k[1], "index": k[2]}
}

default_ref(p) := {"namespace": p.metadata.namespace, "policy": p.metadata.name, "index": -1}

mode(p) := object.get(p.spec, "mode", "Enforce")

default_action(p) := object.get(p.spec, "defaultAction", "Deny")

rule_action(r) := object.get(r, "action", "Allow")

# protecting is the set of indexes in data.axon.policies of the policies
# protecting input.destination.
protecting contains i if {
	some i, p in data.axon.policies
	p.metadata.namespace == input.destination.namespace
	selector_matches(p.spec.podSelector, input.destination.labels)
	some port in p.spec.ports
	port.port == input.destination.port
}

# matched is the set of rules (of protecting policies) matching the request:
# {"namespace", "policy", "index", "action", "mode"}.
matched contains rule if {
	some pi in protecting
	p := data.axon.policies[pi]
	some i, r in p.spec.rules
	rule_matches(p, r)
	rule := {
		"namespace": p.metadata.namespace, "policy": p.metadata.name, "index": i,
		"action": rule_action(r), "mode": mode(p),
	}
}

# Policies written in Rego: index 0 stands for the module's deny rules, 1 for
# its allow rules.
matched contains rule if {
	some pi in protecting
	p := data.axon.policies[pi]
	p.spec.rego
	data.axon.user[sprintf("%s/%s", [p.metadata.namespace, p.metadata.name])].deny
	rule := {
		"namespace": p.metadata.namespace, "policy": p.metadata.name, "index": 0,
		"action": "Deny", "mode": mode(p),
	}
}

matched contains rule if {
	some pi in protecting
	p := data.axon.policies[pi]
	p.spec.rego
	data.axon.user[sprintf("%s/%s", [p.metadata.namespace, p.metadata.name])].allow
	rule := {
		"namespace": p.metadata.namespace, "policy": p.metadata.name, "index": 1,
		"action": "Allow", "mode": mode(p),
	}
}

rule_matches(p, r) if {
	from_matches(p, r)
	http_matches(r)
}

# from omitted: any source. from: [] (present, empty) matches nothing.
from_matches(_, r) if not r.from

from_matches(p, r) if {
	some peer in r.from
	peer_matches(p, r, peer)
}

http_matches(r) if not r.http

http_matches(r) if {
	some h in r.http
	method_matches(h)
	path_matches(h)
}

method_matches(h) if not h.methods

method_matches(h) if input.method in h.methods

path_matches(h) if not h.paths

path_matches(h) if {
	h.paths
	some pm in h.paths
	path_item_matches(pm)
}

# Patterns are compared in canonical form (docs/semantics.md "Canonical
# form"); input.path is already canonical.
path_item_matches(pm) if input.path == canonical_path(pm.exact)

path_item_matches(pm) if {
	p := trim_right(canonical_path(pm.prefix), "/")
	p == ""
}

path_item_matches(pm) if {
	p := trim_right(canonical_path(pm.prefix), "/")
	p != ""
	input.path == p
}

path_item_matches(pm) if {
	p := trim_right(canonical_path(pm.prefix), "/")
	p != ""
	startswith(input.path, concat("", [p, "/"]))
}

path_item_matches(pm) if glob.match(canonical_path(pm.glob), ["/"], input.path)

# The asterisk form (OPTIONS *) is matched by the globs that match "/*" (such
# as /** and /*), as by prefix: /.
path_item_matches(pm) if {
	input.path == "*"
	glob.match(canonical_path(pm.glob), ["/"], "/*")
}

# canonical_path is httppath.Canonical: escapes of the characters servers
# decode before routing (decoded_escapes) are decoded, all other escapes get
# upper-case hex digits. (Paths httppath.Check rejects may differ.)
canonical_path(p) := p if not contains(p, "%")

canonical_path(p) := concat("", [parts[0], concat("", rest)]) if {
	contains(p, "%")
	parts := split(p, "%")
	rest := [canonical_escape(part) | some i, part in parts; i > 0]
}

# canonical_escape is the canonical form of "%" + part.
canonical_escape(part) := concat("", [object.get(decoded_escapes, k, k), substring(part, 2, -1)]) if {
	e := upper(substring(part, 0, 2))
	regex.match(`^[0-9A-F]{2}$`, e)
	k := concat("", ["%", e])
} else := concat("", ["%", part])

# decoded_escapes are the escapes of httppath.Decoded.
decoded_escapes := {
	"%21": "!", "%22": "\"", "%24": "$", "%26": "&", "%27": "'", "%28": "(", "%29": ")",
	"%2A": "*", "%2B": "+", "%2C": ",", "%3A": ":", "%3C": "<", "%3D": "=", "%3E": ">",
	"%40": "@", "%5B": "[", "%5D": "]", "%5E": "^", "%60": "`", "%7B": "{", "%7C": "|",
	"%7D": "}",
}
