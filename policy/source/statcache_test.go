package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A Cache that skips reading files whose status did not change must still
// see every rewrite: in place with the same size, right after a load (the
// same timestamp tick) or later, and a rename over the file.
func TestCacheSeesRewritesOfTheSameSize(t *testing.T) {
	policy := func(path string) string {
		return `apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: api, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 8080}]
  rules:
  - action: Allow
    http: [{methods: [GET], paths: [{prefix: ` + path + `}]}]
`
	}
	dir := writeDir(t, map[string]string{"cluster.yaml": cluster, "api.yaml": policy("/aaa")})
	file := filepath.Join(dir, "api.yaml")
	c := NewCache()
	expect := func(step, path string) {
		t.Helper()
		set, probs, err := c.Load(dir)
		if err != nil || len(probs.Errors()) > 0 {
			t.Fatalf("%s: %v %v", step, err, probs)
		}
		if len(set.Policies) != 1 || !strings.Contains(set.Policies[0].Spec.Rules[0].HTTP[0].Paths[0].Prefix, path) {
			t.Fatalf("%s: the cache gave %+v, want the prefix %s", step, set.Policies, path)
		}
	}
	expect("first load", "/aaa")
	if err := os.WriteFile(file, []byte(policy("/bbb")), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("rewritten at once", "/bbb")

	// Files unchanged for the racy window are then taken from the cache.
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = 20 * time.Millisecond
	time.Sleep(50 * time.Millisecond)
	expect("settled", "/bbb")
	expect("from the cache", "/bbb")
	if err := os.WriteFile(file, []byte(policy("/ccc")), 0o644); err != nil {
		t.Fatal(err)
	}
	expect("rewritten in place after settling", "/ccc")
	time.Sleep(50 * time.Millisecond)
	expect("settled again", "/ccc")
	tmp := filepath.Join(dir, ".api.tmp")
	if err := os.WriteFile(tmp, []byte(policy("/ddd")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	expect("renamed over", "/ddd")
}
