package agent

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// folderGen writes random policy folders: a few namespaces and pods, policies
// with random selectors, sources, methods and paths, and a Rego policy
// whose module it can edit.
type folderGen struct {
	rng  *rand.Rand
	dir  string
	pods int // pods in pods.yaml
	tag  int // makes each edit distinct
}

func (g *folderGen) write(t *testing.T, name, content string) {
	t.Helper()
	// Written beside and renamed in, as editors and kubectl-style tools do.
	tmp := filepath.Join(g.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(g.dir, name)); err != nil {
		t.Fatal(err)
	}
}

func (g *folderGen) podsFile() string {
	var b strings.Builder
	for n := 0; n < 3; n++ {
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns%d, labels: {team: t%d}}\n---\n", n, n%2)
	}
	for i := 0; i < g.pods; i++ {
		ip := fmt.Sprintf("10.91.%d.%d", 1+i/200, 1+i%200)
		fmt.Fprintf(&b, "apiVersion: v1\nkind: Pod\nmetadata: {name: pod%d, namespace: ns%d, labels: {app: app%d}}\nstatus: {phase: Running, podIP: %s, podIPs: [{ip: %s}]}\n---\n",
			i, i%3, (i+g.tag)%4, ip, ip)
	}
	return b.String()
}

func (g *folderGen) policy(name string) string {
	r := g.rng
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata: {name: %s, namespace: ns%d}\nspec:\n  podSelector: {matchLabels: {app: app%d}}\n  ports: [{port: 8080}]\n",
		name, r.IntN(3), r.IntN(4))
	fmt.Fprintf(&b, "  mode: %s\n  defaultAction: %s\n  rules:\n", []string{"Enforce", "Audit"}[r.IntN(2)], []string{"Allow", "Deny"}[r.IntN(2)])
	for i, n := 0, 1+r.IntN(4); i < n; i++ {
		fmt.Fprintf(&b, "  - action: %s\n", []string{"Allow", "Deny"}[r.IntN(2)])
		switch r.IntN(4) {
		case 0:
			fmt.Fprintf(&b, "    from: [{podSelector: {matchLabels: {app: app%d}}}]\n", r.IntN(4))
		case 1:
			fmt.Fprintf(&b, "    from: [{namespaceSelector: {matchLabels: {team: t%d}}}]\n", r.IntN(2))
		case 2:
			fmt.Fprintf(&b, "    from: [{ipBlock: {cidr: 192.168.%d.0/24}}]\n", r.IntN(4))
		}
		methods := []string{"[GET]", "[POST, PUT]", "[GET, DELETE]"}
		paths := []string{"{prefix: /api}", "{prefix: /api/v1}", "{exact: /api/v1/items}", "{glob: /api/*/orders}", "{prefix: /}"}
		if r.IntN(4) == 0 {
			fmt.Fprintf(&b, "    http: [{paths: [%s]}]\n", paths[r.IntN(len(paths))])
		} else {
			fmt.Fprintf(&b, "    http: [{methods: %s, paths: [%s]}]\n", methods[r.IntN(len(methods))], paths[r.IntN(len(paths))])
		}
	}
	return b.String()
}

const regoPolicy = `apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: rego, namespace: ns0}
spec:
  podSelector: {matchLabels: {app: app1}}
  ports: [{port: 8080}]
  defaultAction: Allow
  rego: {file: m.rego}
`

func (g *folderGen) module() string {
	return fmt.Sprintf("package axon.test.m\n\nimport rego.v1\n\ndeny if {\n\tstartswith(input.path, \"/admin/%d\")\n\tnot input.source.namespace == \"ns%d\"\n}\n", g.tag, g.tag%3)
}

func (g *folderGen) policyFiles() []string {
	ents, err := os.ReadDir(g.dir)
	if err != nil {
		panic(err)
	}
	var out []string
	for _, e := range ents {
		if n := e.Name(); strings.HasPrefix(n, "p") && strings.HasSuffix(n, ".yaml") && n != "pods.yaml" {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// TestIncrementalMatchesFull applies random sequences of changes to a policy
// folder (policy files edited, added, removed and renamed; pods relabelled,
// added and removed; the Rego module edited; a broken or duplicate policy
// written and taken back) and checks after every step that the reload path
// (NewDirLoader: the file cache, the prepared policies, the partial
// evaluations, the group rows and the compiled library, all reused) gives
// exactly the table a compilation of the same folder from scratch gives,
// with the same previous table, and fails where it fails.
func TestIncrementalMatchesFull(t *testing.T) {
	steps := 40
	if testing.Short() {
		steps = 12
	}
	for _, seed := range []uint64{1, 2} {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			g := &folderGen{rng: rand.New(rand.NewPCG(seed, 50)), dir: t.TempDir(), pods: 12}
			g.write(t, "pods.yaml", g.podsFile())
			for i := 0; i < 10; i++ {
				g.write(t, fmt.Sprintf("p%03d.yaml", i), g.policy(fmt.Sprintf("pol%03d", i)))
			}
			g.write(t, "m.rego", g.module())
			g.write(t, "rego.yaml", regoPolicy)
			load := NewDirLoader()
			var prev *table.Table
			check := func(step int, what string, wantErr bool) {
				t.Helper()
				inc, _, incErr := load(g.dir, nil, prev)
				full, _, fullErr := LoadDir(g.dir, prev)
				if (incErr != nil) != (fullErr != nil) || (incErr != nil) != wantErr {
					t.Fatalf("step %d (%s): reload error %v, from scratch %v (an error wanted: %v)", step, what, incErr, fullErr, wantErr)
				}
				if incErr != nil {
					return
				}
				if !reflect.DeepEqual(inc, full) {
					t.Fatalf("step %d (%s): the reload's table differs from the compilation from scratch:\n%s", step, what, tableDiff(inc, full))
				}
				prev = inc
			}
			check(0, "first load", false)
			next := 10
			for step := 1; step <= steps; step++ {
				g.tag++
				files := g.policyFiles()
				pick := files[g.rng.IntN(len(files))]
				var what string
				switch op := g.rng.IntN(9); {
				case op < 3:
					what = "edit " + pick
					g.write(t, pick, g.policy("pol"+strings.TrimSuffix(strings.TrimPrefix(pick, "p"), ".yaml")))
				case op == 3:
					what = "add"
					g.write(t, fmt.Sprintf("p%03d.yaml", next), g.policy(fmt.Sprintf("pol%03d", next)))
					next++
				case op == 4 && len(files) > 3:
					what = "remove " + pick
					if err := os.Remove(filepath.Join(g.dir, pick)); err != nil {
						t.Fatal(err)
					}
				case op == 5:
					// The policy's origin (file:line) changes, its rules do not.
					what = "rename " + pick
					if err := os.Rename(filepath.Join(g.dir, pick), filepath.Join(g.dir, fmt.Sprintf("p%03d.yaml", next))); err != nil {
						t.Fatal(err)
					}
					next++
				case op == 6:
					what = "pods"
					g.pods = 8 + g.rng.IntN(8)
					g.write(t, "pods.yaml", g.podsFile())
				case op == 7:
					what = "module"
					g.write(t, "m.rego", g.module())
				default:
					// A broken policy, then a duplicate name: both loads
					// refuse the folder; taken back, both accept it again.
					what = "broken " + pick
					old, err := os.ReadFile(filepath.Join(g.dir, pick))
					if err != nil {
						t.Fatal(err)
					}
					g.write(t, pick, strings.Replace(string(old), "podSelector:", "podSelectr:", 1))
					check(step, what, true)
					g.write(t, "pdup.yaml", string(old))
					g.write(t, pick, string(old))
					check(step, "duplicate of "+pick, true)
					if err := os.Remove(filepath.Join(g.dir, "pdup.yaml")); err != nil {
						t.Fatal(err)
					}
				}
				check(step, what, false)
			}
		})
	}
}

// tableDiff names the first fields in which two tables differ.
func tableDiff(a, b *table.Table) string {
	va, vb := reflect.ValueOf(*a), reflect.ValueOf(*b)
	var out []string
	for i := 0; i < va.NumField(); i++ {
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			f := va.Type().Field(i).Name
			out = append(out, fmt.Sprintf("%s:\n  reload  %v\n  scratch %v", f, va.Field(i).Interface(), vb.Field(i).Interface()))
		}
	}
	return strings.Join(out, "\n")
}
