package axon.authz_test

import rego.v1

import data.axon.authz

namespaces := {"shop": {"team": "shop"}, "ops": {"team": "ops"}}

orders := {"namespace": "shop", "labels": {"app": "orders"}, "port": 8080}

web := {"namespace": "shop", "labels": {"app": "web"}, "ip": "10.1.0.5"}

admin := {"namespace": "ops", "labels": {"app": "admin"}, "ip": "10.1.0.6"}

external(ip) := {"ip": ip}

allowlist := {
	"metadata": {"namespace": "shop", "name": "orders-api"},
	"spec": {
		"podSelector": {"matchLabels": {"app": "orders"}},
		"ports": [{"port": 8080}], "mode": "Enforce", "defaultAction": "Deny",
		"rules": [
			{"action": "Allow", "from": [{"podSelector": {"matchLabels": {"app": "web"}}}], "http": [{"methods": ["GET", "HEAD"], "paths": [{"prefix": "/api/v1"}, {"glob": "/items/*/price"}]}]},
			{"action": "Allow", "from": [{"ipBlock": {"cidr": "192.0.2.0/24", "except": ["192.0.2.128/25"]}}], "http": [{"paths": [{"exact": "/healthz"}]}]},
			{"action": "Allow", "from": [{"namespaceSelector": {"matchLabels": {"team": "ops"}}}]},
		],
	},
}

admin_deny := {
	"metadata": {"namespace": "shop", "name": "admin-deny"},
	"spec": {
		"podSelector": {}, "ports": [{"port": 8080}], "mode": "Enforce", "defaultAction": "Allow",
		"rules": [{"action": "Deny", "http": [{"paths": [{"prefix": "/admin"}]}]}],
	},
}

staged := {
	"metadata": {"namespace": "shop", "name": "staged"},
	"spec": {
		"podSelector": {"matchLabels": {"app": "orders"}}, "ports": [{"port": 8080}], "mode": "Audit", "defaultAction": "Allow",
		"rules": [{"action": "Deny", "http": [{"methods": ["DELETE"]}]}],
	},
}

req(method, path, source) := {"method": method, "path": path, "source": source, "destination": orders}

decide(policies, input_doc) := d if {
	d := authz.decision with input as input_doc with data.axon.policies as policies with data.axon.namespaces as namespaces
}

ref(name, index) := {"namespace": "shop", "policy": name, "index": index}

test_allow_listed_prefix if {
	decide([allowlist], req("GET", "/api/v1/orders", web)) == {"action": "allow", "rule": ref("orders-api", 0)}
	decide([allowlist], req("GET", "/api/v1", web)) == {"action": "allow", "rule": ref("orders-api", 0)}
}

test_prefix_is_segment_wise if {
	decide([allowlist], req("GET", "/api/v1x", web)) == {"action": "deny", "rule": ref("orders-api", -1)}
}

test_method_is_case_sensitive if {
	decide([allowlist], req("get", "/api/v1", web)).action == "deny"
	decide([allowlist], req("POST", "/api/v1", web)).action == "deny"
}

test_glob_segment if {
	decide([allowlist], req("GET", "/items/42/price", web)).action == "allow"
	decide([allowlist], req("GET", "/items/4/2/price", web)).action == "deny"
}

test_ip_block_and_except if {
	decide([allowlist], req("GET", "/healthz", external("192.0.2.7"))) == {"action": "allow", "rule": ref("orders-api", 1)}
	decide([allowlist], req("GET", "/healthz", external("192.0.2.200"))).action == "deny"
	decide([allowlist], req("GET", "/healthz", external("198.51.100.1"))).action == "deny"
}

test_ip_block_never_selects_pods if {
	pod_in_block := {"namespace": "shop", "labels": {"app": "batch"}, "ip": "192.0.2.7"}
	decide([allowlist], req("GET", "/healthz", pod_in_block)).action == "deny"
}

test_namespace_selector if {
	decide([allowlist], req("DELETE", "/anything", admin)) == {"action": "allow", "rule": ref("orders-api", 2)}
}

test_deny_overrides_across_policies if {
	decide([allowlist, admin_deny], req("DELETE", "/admin/x", admin)) == {"action": "deny", "rule": ref("admin-deny", 0)}
	decide([allowlist, admin_deny], req("DELETE", "/adminx", admin)).action == "allow"
}

test_strictest_default if {
	decide([allowlist, admin_deny], req("GET", "/other", web)) == {"action": "deny", "rule": ref("orders-api", -1)}
}

test_audit_deny_counts_against_audit_rule if {
	decide([admin_deny, staged], req("DELETE", "/x", web)) == {"action": "audit_deny", "rule": ref("staged", 0)}
	decide([admin_deny, staged], req("GET", "/x", web)) == {"action": "allow", "rule": ref("admin-deny", -1)}
}

test_audit_never_blocks if {
	decide([staged], req("DELETE", "/x", web)).action == "audit_deny"
	decide([staged], req("GET", "/x", web)) == {"action": "allow", "rule": null}
}

test_unprotected_endpoint_allowed if {
	other := {"method": "GET", "path": "/", "source": web, "destination": {"namespace": "shop", "labels": {"app": "orders"}, "port": 9090}}
	decide([allowlist], other) == {"action": "allow", "rule": null}
	authz.policed == false with input as other with data.axon.policies as [allowlist] with data.axon.namespaces as namespaces
}

test_empty_from_matches_nothing if {
	p := json.patch(allowlist, [{"op": "replace", "path": "/spec/rules", "value": [{"action": "Allow", "from": []}]}])
	decide([p], req("GET", "/api/v1", web)).action == "deny"
}

test_match_expressions if {
	sel := {"matchExpressions": [
		{"key": "app", "operator": "In", "values": ["web", "api"]},
		{"key": "canary", "operator": "DoesNotExist"},
		{"key": "env", "operator": "NotIn", "values": ["dev"]},
	]}
	p := json.patch(allowlist, [{"op": "replace", "path": "/spec/rules", "value": [{"action": "Allow", "from": [{"podSelector": sel}]}]}])
	decide([p], req("GET", "/", web)).action == "allow"
	decide([p], req("GET", "/", object.union(web, {"labels": {"app": "web", "canary": "1"}}))).action == "deny"
	decide([p], req("GET", "/", object.union(web, {"labels": {"app": "web", "env": "dev"}}))).action == "deny"
	decide([p], req("GET", "/", object.union(web, {"labels": {"app": "api", "env": "prod"}}))).action == "allow"
}

test_prefix_root_matches_everything if {
	p := json.patch(admin_deny, [{"op": "replace", "path": "/spec/rules/0/http/0/paths/0/prefix", "value": "/"}])
	decide([p], req("OPTIONS", "*", web)).action == "deny"
	decide([p], req("GET", "/", web)).action == "deny"
}

test_pod_selector_alone_stays_in_the_policy_namespace if {
	# The allow-list's first rule selects app=web pods of shop only.
	web_elsewhere := {"namespace": "ops", "labels": {"app": "web"}, "ip": "10.1.0.9"}
	p := json.patch(allowlist, [{"op": "remove", "path": "/spec/rules/2"}])
	decide([p], req("GET", "/api/v1/orders", web_elsewhere)).action == "deny"
	decide([p], req("GET", "/api/v1/orders", web)).action == "allow"
}

test_namespace_and_pod_selector_together if {
	peer := {"namespaceSelector": {"matchLabels": {"team": "ops"}}, "podSelector": {"matchLabels": {"app": "admin"}}}
	p := json.patch(allowlist, [{"op": "replace", "path": "/spec/rules", "value": [{"action": "Allow", "from": [peer]}]}])
	decide([p], req("GET", "/", admin)).action == "allow"
	other_ops_pod := {"namespace": "ops", "labels": {"app": "web"}, "ip": "10.1.0.7"}
	decide([p], req("GET", "/", other_ops_pod)).action == "deny"
	admin_in_shop := {"namespace": "shop", "labels": {"app": "admin"}, "ip": "10.1.0.8"}
	decide([p], req("GET", "/", admin_in_shop)).action == "deny"
}

test_audit_default_is_reported_against_the_audit_policy if {
	strict := json.patch(staged, [{"op": "replace", "path": "/spec/defaultAction", "value": "Deny"}])
	decide([admin_deny, strict], req("GET", "/x", web)) == {"action": "audit_deny", "rule": ref("staged", -1)}
}

test_exact_asterisk_form if {
	p := json.patch(allowlist, [{"op": "replace", "path": "/spec/rules", "value": [{"action": "Allow", "http": [{"methods": ["OPTIONS"], "paths": [{"exact": "*"}]}]}]}])
	decide([p], req("OPTIONS", "*", web)).action == "allow"
	decide([p], req("OPTIONS", "/", web)).action == "deny"
	decide([p], req("GET", "*", web)).action == "deny"
}

# Issue 9 class 13: patterns and requests compare in one canonical form.
test_canonical_path_form if {
	authz.canonical_path("/a%3a%3f%c3%a9%2525%40") == "/a:%3F%C3%A9%2525@"
	authz.canonical_path("/plain") == "/plain"
}

forms := json.patch(admin_deny, [{"op": "replace", "path": "/spec/rules/0/http/0/paths", "value": [
	{"exact": "/api/v1/orders/%40me"},
	{"prefix": "/admin%3aexport"},
	{"glob": "/files/a%2b*"},
	{"exact": "/q%3f"},
]}])

test_patterns_match_in_canonical_form if {
	decide([forms], req("GET", "/api/v1/orders/@me", web)).action == "deny"
	decide([forms], req("GET", "/admin:export/x", web)).action == "deny"
	decide([forms], req("GET", "/admin:exportx", web)).action == "allow"
	decide([forms], req("GET", "/files/a+b", web)).action == "deny"
	decide([forms], req("GET", "/q%3F", web)).action == "deny"
	decide([forms], req("GET", "/q", web)).action == "allow"
}

# Issue 9 class 12 and the other non-canonical forms: decided before rules.
test_non_canonical_input_is_denied if {
	nc := {"action": "deny", "rule": null, "reason": "non_canonical_path"}
	decide([admin_deny], req("GET", "/api/v1/ok#/../../admin/secret.txt", web)) == nc
	decide([admin_deny], req("GET", "/api/v1/orders/%40me", web)) == nc
	decide([admin_deny], req("GET", "/q%3f", web)) == nc
	decide([admin_deny], req("GET", "/a/../b", web)) == nc
	decide([admin_deny], req("GET", "/%61dmin", web)) == nc
	decide([admin_deny], req("GET", "/a;b", web)) == nc
	decide([admin_deny], req("GET", "/a%2", web)) == nc
	decide([staged], req("GET", "/a#b", web)) == {"action": "audit_deny", "rule": null, "reason": "non_canonical_path"}
	decide([admin_deny], req("GET", "/a%20b%3F%25", web)).action == "allow"
	decide([admin_deny], req("GET", "/a/.well-known/", web)).action == "allow"
}

# Issue 9 class 14: an ipBlock in a Deny rule matches pods inside it; in an
# Allow rule it matches external sources only.
test_ip_block_deny_selects_pods if {
	p := json.patch(admin_deny, [{"op": "replace", "path": "/spec/rules", "value": [{"action": "Deny", "from": [{"ipBlock": {"cidr": "10.1.0.0/24", "except": ["10.1.0.6/32"]}}]}]}])
	decide([p], req("GET", "/x", web)) == {"action": "deny", "rule": ref("admin-deny", 0)}
	decide([p], req("GET", "/x", admin)).action == "allow"
	decide([p], req("GET", "/x", external("10.1.0.9"))).action == "deny"
	decide([p], req("GET", "/x", external("10.2.0.9"))).action == "allow"
	pod_in_block := {"namespace": "shop", "labels": {"app": "batch"}, "ip": "192.0.2.7"}
	decide([allowlist], req("GET", "/healthz", pod_in_block)).action == "deny"
}

# Issue 9 class 15: the asterisk form is matched by prefix: / and by the
# globs that match /*, alike.
test_asterisk_form_and_globs if {
	g := json.patch(admin_deny, [{"op": "replace", "path": "/spec/rules/0/http/0/paths/0", "value": {"glob": "/**"}}])
	decide([g], req("OPTIONS", "*", web)).action == "deny"
	s := json.patch(admin_deny, [{"op": "replace", "path": "/spec/rules/0/http/0/paths/0", "value": {"glob": "/*"}}])
	decide([s], req("OPTIONS", "*", web)).action == "deny"
	o := json.patch(admin_deny, [{"op": "replace", "path": "/spec/rules/0/http/0/paths/0", "value": {"glob": "/api/**"}}])
	decide([o], req("OPTIONS", "*", web)).action == "allow"
}
