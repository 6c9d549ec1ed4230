package source

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// policy is a one-rule policy file allowing GET on the prefix path.
func policy(path string) string {
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

// expectPrefix loads dir through c and fails unless it holds the one policy
// of policy(path).
func expectPrefix(t *testing.T, c *Cache, dir, step, path string) {
	t.Helper()
	set, probs, err := c.Load(dir)
	if err != nil || len(probs.Errors()) > 0 {
		t.Fatalf("%s: %v %v", step, err, probs)
	}
	if len(set.Policies) != 1 || !strings.Contains(set.Policies[0].Spec.Rules[0].HTTP[0].Paths[0].Prefix, path) {
		t.Fatalf("%s: the cache gave %+v, want the prefix %s", step, set.Policies, path)
	}
}

// A Cache that skips reading files whose status did not change must still
// see every rewrite: in place with the same size, right after a load (the
// same timestamp tick) or later, and a rename over the file.
func TestCacheSeesRewritesOfTheSameSize(t *testing.T) {
	dir := writeDir(t, map[string]string{"cluster.yaml": cluster, "api.yaml": policy("/aaa")})
	file := filepath.Join(dir, "api.yaml")
	c := NewCache()
	expect := func(step, path string) { t.Helper(); expectPrefix(t, c, dir, step, path) }
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

// TestCacheSeesAdversarialRewrites: rewrites an attacker of the cache would
// try: same size with the modification time put back, a ConfigMap-style
// ..data symlink swap, a file in a subdirectory.
func TestCacheSeesAdversarialRewrites(t *testing.T) {
	defer func(w time.Duration) { racyWindow = w }(racyWindow)
	racyWindow = 20 * time.Millisecond
	settle := func() { time.Sleep(60 * time.Millisecond) }

	for _, layout := range []string{"plain", "subdir", "configmap"} {
		t.Run(layout, func(t *testing.T) {
			dir := writeDir(t, map[string]string{"cluster.yaml": cluster})
			var file string
			swap := func(string) {}
			switch layout {
			case "plain":
				file = filepath.Join(dir, "api.yaml")
			case "subdir":
				os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755)
				file = filepath.Join(dir, "a", "b", "api.yaml")
			case "configmap":
				n := 0
				mk := func(text string) string {
					n++
					d := filepath.Join(dir, "..v"+string(rune('0'+n)))
					os.Mkdir(d, 0o755)
					if err := os.WriteFile(filepath.Join(d, "api.yaml"), []byte(text), 0o644); err != nil {
						t.Fatal(err)
					}
					return filepath.Base(d)
				}
				os.Symlink(mk(policy("/aaa")), filepath.Join(dir, "..data"))
				os.Symlink("..data/api.yaml", filepath.Join(dir, "api.yaml"))
				swap = func(text string) {
					v := mk(text)
					tmp := filepath.Join(dir, "..data_tmp")
					os.Symlink(v, tmp)
					if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
						t.Fatal(err)
					}
				}
			}
			if layout != "configmap" {
				os.WriteFile(file, []byte(policy("/aaa")), 0o644)
			}
			c := NewCache()
			expect := func(step, path string) { t.Helper(); expectPrefix(t, c, dir, step, path) }
			expect("first", "/aaa")
			settle()
			expect("settled", "/aaa")
			expect("cached", "/aaa")
			if layout == "configmap" {
				swap(policy("/bbb"))
				expect("swapped", "/bbb")
				settle()
				expect("settled", "/bbb")
				swap(policy("/aaa"))
				expect("swapped back", "/aaa")
				return
			}
			st, _ := os.Stat(file)
			mt := st.ModTime()
			os.WriteFile(file, []byte(policy("/bbb")), 0o644)
			os.Chtimes(file, mt, mt) // mtime put back: only ctime differs
			expect("rewritten, mtime restored", "/bbb")
			settle()
			expect("settled", "/bbb")
			// Truncate and rewrite in one tick right after a settled load.
			f, _ := os.OpenFile(file, os.O_WRONLY, 0)
			f.WriteAt([]byte(policy("/ccc")), 0)
			f.Close()
			os.Chtimes(file, mt, mt)
			expect("in place, mtime restored", "/ccc")
		})
	}
}
