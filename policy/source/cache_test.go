package source

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// A Cache must give exactly what a fresh Load gives, whatever changed
// between loads: that is what lets the agent use it.
func TestCacheLoadsLikeLoad(t *testing.T) {
	const policy = `apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  rules:
  - action: Allow
    from: [{podSelector: {matchLabels: {app: web}}}]
    http: [{methods: [GET], paths: [{prefix: /api}]}]
`
	dir := writeDir(t, map[string]string{
		"cluster.yaml": cluster,
		"api.yaml":     policy,
		"cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m, namespace: shop}\ndata: {a: b}\n",
		"mon.yaml":     "apiVersion: axon.dev/v1alpha1\nkind: HTTPMonitor\nmetadata: {name: m, namespace: shop}\nspec: {podSelector: {}}\n",
	})
	c := NewCache()
	check := func(step string) {
		t.Helper()
		wantSet, wantProbs, wantErr := Load(dir)
		for i := range 2 { // the first load fills the cache, the second replays it
			gotSet, gotProbs, gotErr := c.Load(dir)
			if !reflect.DeepEqual(gotSet, wantSet) || !reflect.DeepEqual(gotProbs, wantProbs) || (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("%s, load %d through the cache differs from Load:\ngot  %+v\n%v\nwant %+v\n%v", step, i, gotSet, gotProbs, wantSet, wantProbs)
			}
		}
	}
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check("initial folder")
	// Replayed objects must be copies: a consumer mutating the set must not
	// change the next load.
	s, _, _ := c.Load(dir)
	for i := range s.Policies {
		s.Policies[i].Spec.PodSelector.MatchLabels = map[string]string{"app": "mutated"}
	}
	for i := range s.Pods {
		s.Pods[i].Labels["app"] = "mutated"
	}
	check("after mutating a loaded set")
	write("api.yaml", policy+"  - action: Deny\n    http: [{paths: [{prefix: /admin}]}]\n")
	check("one policy changed")
	write("broken.yaml", "apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata: {name: bad, namespace: shop}\nspec: {bogus: 1}\n")
	check("a broken file added")
	write("dup.yaml", policy)
	check("a duplicate of a cached policy in a new file")
	if err := os.Remove(filepath.Join(dir, "dup.yaml")); err != nil {
		t.Fatal(err)
	}
	check("the duplicate removed")
	write("syntax.yaml", "a: [\n")
	check("a YAML syntax error")
}

// LoadFiles takes the bytes it is given instead of the file's (the agent
// gives what its watcher fingerprinted), reads the files it is not given,
// and a later Load reads a given file again: given bytes never stand in for
// a version of the file on disk.
func TestCacheLoadFilesTakesGivenBytes(t *testing.T) {
	pod := func(ip string) string {
		return "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nstatus: {phase: Running, podIP: " + ip + "}\n"
	}
	dir := writeDir(t, map[string]string{"cluster.yaml": cluster, "pod.yaml": pod("10.0.0.1")})
	c := NewCache()
	ipOf := func(s *Set) string {
		for _, p := range s.Pods {
			if p.Name == "p" {
				return p.Status.PodIP
			}
		}
		return ""
	}
	if s, _, err := c.Load(dir); err != nil || ipOf(s) != "10.0.0.1" {
		t.Fatalf("first load: %v, pod IP %q", err, ipOf(s))
	}
	s, probs, err := c.LoadFiles(dir, map[string][]byte{"pod.yaml": []byte(pod("10.0.0.2")), "gone.yaml": []byte("junk: [")})
	if err != nil || len(probs.Errors()) > 0 {
		t.Fatalf("LoadFiles: %v %v", err, probs.Err())
	}
	if ipOf(s) != "10.0.0.2" {
		t.Errorf("LoadFiles: pod IP %q, want the given bytes' 10.0.0.2", ipOf(s))
	}
	if len(s.Namespaces) == 0 {
		t.Error("LoadFiles: the file not given (cluster.yaml) was not read")
	}
	if s, _, _ := c.Load(dir); ipOf(s) != "10.0.0.1" {
		t.Errorf("Load after LoadFiles: pod IP %q, want the file's 10.0.0.1", ipOf(s))
	}
	if err := os.WriteFile(filepath.Join(dir, "pod.yaml"), []byte(pod("10.0.0.3")), 0o644); err != nil {
		t.Fatal(err)
	}
	if s, _, _ := c.Load(dir); ipOf(s) != "10.0.0.3" {
		t.Errorf("Load after a write: pod IP %q, want 10.0.0.3", ipOf(s))
	}
}
