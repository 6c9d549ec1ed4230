// Package scaleset renders the policy folder the control-plane benchmarks
// use (bench/e2e, the agent's reload benchmark): 1,000 policies of 10 rules
// shaped like policy/compiler's benchmark, with a chosen number of pod
// identities, and any subset of the policies changed.
package scaleset

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Set is a folder shaped like policy/compiler's benchmark (issue 3):
// pods in 50 namespaces, policies of 10 rules each with pod, namespace and
// CIDR sources, methods, exact, prefix and glob paths. Its pods are
// identities only: nothing sends from their addresses.
type Set struct {
	Pods, Policies int
}

// Files renders the folder, file name to content; the policies in changed
// get a different path in their first rule (tag makes each change
// distinct), whose sources become the policy's own pods: a change that adds
// and removes path rows wherever the policy has pods.
func (s Set) Files(changed map[int]bool, tag int) map[string]string {
	const nss, apps = 50, 20
	files := map[string]string{}
	var b strings.Builder
	for n := 0; n < nss; n++ {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns%d, labels: {team: t%d}}\n---\n", n, n%5)
	}
	for i := 0; i < s.Pods; i++ {
		// Identities only, in 10.94.128.0/17: the benchmark's range.
		ip := fmt.Sprintf("10.94.%d.%d", 128+i/250, 1+i%250)
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata: {name: pod%d, namespace: ns%d, labels: {app: app%d, instance: i%d}}\nstatus: {phase: Running, podIP: %s, podIPs: [{ip: %s}]}\n---\n",
			i, i%nss, (i/nss)%apps, i, ip, ip)
	}
	files["pods.yaml"] = b.String()
	rng := rand.New(rand.NewPCG(42, 42))
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
	for i := 0; i < s.Policies; i++ {
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
				app := rng.IntN(apps)
				if r == 0 && changed[i] {
					// The changed rule admits the policy's own pods, so
					// that the change reaches the maps.
					app = (i / nss) % apps
				}
				fmt.Fprintf(&b, "    from: [{podSelector: {matchLabels: {app: app%d}}}]\n", app)
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
