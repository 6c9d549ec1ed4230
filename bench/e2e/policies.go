package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// rule is one allow rule of the throughput workloads: the client pod may
// send method to path (a prefix, or the whole path when exact).
type rule struct {
	method string
	path   string
	exact  bool
}

// ruleSet returns n rules: even ones allow a path prefix, odd ones one exact
// path, each under its own /api/v1/svcN/.
func ruleSet(n int) []rule {
	rs := make([]rule, n)
	for i := range rs {
		if i%2 == 0 {
			rs[i] = rule{method: "GET", path: fmt.Sprintf("/api/v1/svc%d/", i)}
		} else {
			rs[i] = rule{method: "GET", path: fmt.Sprintf("/api/v1/svc%d/status", i), exact: true}
		}
	}
	return rs
}

// loadPath is the path the load requests for a set of n rules: under the
// last prefix rule, so an ordered ACL list (HAProxy) walks nearly all of
// them, while Axon's lookup does not depend on the position.
func loadPath(n int) string { return fmt.Sprintf("/api/v1/svc%d/items/42", n-2) }

func benchPods() string {
	return `apiVersion: v1
kind: Namespace
metadata: {name: bench, labels: {team: bench}}
---
apiVersion: v1
kind: Pod
metadata: {name: cli, namespace: bench, labels: {app: cli}}
status: {phase: Running, podIP: ` + cliAddr + `, podIPs: [{ip: ` + cliAddr + `}]}
---
apiVersion: v1
kind: Pod
metadata: {name: srv, namespace: bench, labels: {app: srv}}
status: {phase: Running, podIP: ` + srvAddr + `, podIPs: [{ip: ` + srvAddr + `}]}
`
}

// monitorYAML is the HTTPMonitor of scenario C: the server pod's port 80.
const monitorYAML = `apiVersion: axon.dev/v1alpha1
kind: HTTPMonitor
metadata: {name: srv, namespace: bench}
spec:
  podSelector: {matchLabels: {app: srv}}
  ports: [{port: 80}]
  maxRoutes: 100
`

// writeRuleFolder fills dir with the pods and rules as policies of 10 rules
// each (Enforce, default Deny) on the server's port 80, and the HTTPMonitor
// when monitor is set. Files are replaced, stale ones removed.
func writeRuleFolder(dir string, rules []rule, monitor bool) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string]string{"pods.yaml": benchPods()}
	if monitor {
		files["monitor.yaml"] = monitorYAML
	}
	for start := 0; start < len(rules); start += 10 {
		var b strings.Builder
		fmt.Fprintf(&b, `apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: p%d, namespace: bench}
spec:
  podSelector: {matchLabels: {app: srv}}
  ports: [{port: %d}]
  mode: Enforce
  defaultAction: Deny
  rules:
`, start/10, nginxPort)
		for _, r := range rules[start:min(start+10, len(rules))] {
			kind := "prefix"
			if r.exact {
				kind = "exact"
			}
			fmt.Fprintf(&b, "  - action: Allow\n    from: [{podSelector: {matchLabels: {app: cli}}}]\n    http: [{methods: [%s], paths: [{%s: %q}]}]\n", r.method, kind, r.path)
		}
		files[fmt.Sprintf("p%04d.yaml", start/10)] = b.String()
	}
	return writeFiles(dir, files)
}

// writeFiles writes each file atomically (a rename, as editors and
// ConfigMap updates do).
func writeFiles(dir string, files map[string]string) error {
	for name, content := range files {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}
