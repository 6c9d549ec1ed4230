package main

import (
	"fmt"
	"math/rand/v2"
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

const benchPods = `apiVersion: v1
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
	files := map[string]string{"pods.yaml": benchPods}
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

// scaleSet is a folder shaped like policy/compiler's benchmark (issue 3):
// pods in 50 namespaces, policies of 10 rules each with pod, namespace and
// CIDR sources, methods, exact, prefix and glob paths. Its pods are
// identities only: nothing sends from their addresses.
type scaleSet struct {
	pods, policies int
}

// files renders the folder; the policies in changed get a different path
// in their first rule (tag makes each change distinct).
func (s scaleSet) files(changed map[int]bool, tag int) map[string]string {
	const nss, apps = 50, 20
	files := map[string]string{}
	var b strings.Builder
	for n := 0; n < nss; n++ {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns%d, labels: {team: t%d}}\n---\n", n, n%5)
	}
	for i := 0; i < s.pods; i++ {
		// Identities only, in 10.94.128.0/17: the benchmark's range.
		ip := fmt.Sprintf("10.94.%d.%d", 128+i/250, 1+i%250)
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata: {name: pod%d, namespace: ns%d, labels: {app: app%d, instance: i%d}}\nstatus: {phase: Running, podIP: %s, podIPs: [{ip: %s}]}\n---\n",
			i, i%nss, (i/nss)%apps, i, ip, ip)
	}
	files["pods.yaml"] = b.String()
	rng := rand.New(rand.NewPCG(42, 42))
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
	for i := 0; i < s.policies; i++ {
		b.Reset()
		mode := "Enforce"
		if i%10 == 0 {
			mode = "Audit"
		}
		fmt.Fprintf(&b, "apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata: {name: p%d, namespace: ns%d}\nspec:\n  podSelector: {matchLabels: {app: app%d}}\n  ports: [{port: 8080}]\n  mode: %s\n  rules:\n",
			i, i%nss, (i/nss)%apps, mode)
		for r := 0; r < 10; r++ {
			action := "Allow"
			if r == 9 {
				action = "Deny"
			}
			fmt.Fprintf(&b, "  - action: %s\n", action)
			switch r % 4 {
			case 0:
				fmt.Fprintf(&b, "    from: [{podSelector: {matchLabels: {app: app%d}}}]\n", rng.IntN(apps))
			case 1:
				fmt.Fprintf(&b, "    from: [{namespaceSelector: {matchLabels: {team: t%d}}, podSelector: {matchLabels: {app: app%d}}}]\n", rng.IntN(5), rng.IntN(apps))
			case 2:
				net := rng.IntN(64)
				_ = rng.IntN(64) // the compiler benchmark's except draw (there unvalidated)
				fmt.Fprintf(&b, "    from: [{ipBlock: {cidr: 192.168.%d.0/24, except: [192.168.%d.128/25]}}]\n", net, net)
			}
			method := methods[rng.IntN(len(methods))]
			var path string
			switch r % 3 {
			case 0:
				path = fmt.Sprintf("{prefix: /api/v%d/res%d}", rng.IntN(3), r)
			case 1:
				path = fmt.Sprintf("{exact: /api/v1/item%d}", rng.IntN(50))
			case 2:
				path = fmt.Sprintf("{glob: /api/v1/orders/*/items%d}", r)
			}
			if r == 0 && changed[i] {
				path = fmt.Sprintf("{prefix: /changed/%d/p%d}", tag, i)
			}
			fmt.Fprintf(&b, "    http: [{methods: [%s], paths: [%s]}]\n", method, path)
		}
		files[fmt.Sprintf("p%04d.yaml", i)] = b.String()
	}
	return files
}

// policyFile is the file name of policy i of a scaleSet.
func policyFile(i int) string { return fmt.Sprintf("p%04d.yaml", i) }
