package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func copyDir(t *testing.T, from string) string {
	t.Helper()
	to := t.TempDir()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

func TestLoadDirExamples(t *testing.T) {
	tab, _, err := LoadDir("../examples/policies", nil)
	if err != nil {
		t.Fatalf("loading the example policies: %v", err)
	}
	if len(tab.Endpoints) == 0 || len(tab.Rules) == 0 {
		t.Fatalf("example policies compiled to %d endpoints, %d rules", len(tab.Endpoints), len(tab.Rules))
	}
	// Reloading with the previous table keeps IDs stable.
	again, _, err := LoadDir("../examples/policies", tab)
	if err != nil {
		t.Fatal(err)
	}
	if len(again.Endpoints) != len(tab.Endpoints) || again.Endpoints[0].ID != tab.Endpoints[0].ID {
		t.Errorf("recompiling with the previous table changed endpoint IDs")
	}
}

func TestLoadDirNamesBrokenFiles(t *testing.T) {
	dir := copyDir(t, "../examples/policies")
	if err := os.WriteFile(filepath.Join(dir, "zz-broken.yaml"), []byte("kind: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tab, _, err := LoadDir(dir, nil)
	if tab != nil {
		t.Error("a table was returned for a directory with a broken file")
	}
	var le *LoadError
	if !errors.As(err, &le) {
		t.Fatalf("error %v is not a *LoadError", err)
	}
	if le.Stage != "source" || !slices.Contains(le.Files, "zz-broken.yaml") {
		t.Errorf("LoadError stage %q files %v, want source and zz-broken.yaml", le.Stage, le.Files)
	}
}

// A loader with a cache gives the same table as a fresh compile, on the first
// load and on a reload.
func TestDirLoaderCachesToSameTable(t *testing.T) {
	load := NewDirLoader()
	first, _, err := load("../examples/policies", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	fresh, _, err := LoadDir("../examples/policies", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, fresh) {
		t.Fatal("the caching loader's first table differs from LoadDir's")
	}
	again, _, err := load("../examples/policies", nil, first)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, first) {
		t.Fatal("reloading unchanged policies through the cache changed the table")
	}
}

// The agent refuses a table the datapath cannot hold as a compile error
// (stage compile, the file named), not as a map write retried forever.
func TestLoadDirRefusesWhatCannotLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../examples/policies")); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata: {name: many-globs, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: orders}}\n  ports: [{port: 8080}]\n  rules:\n")
	for i := range 20 {
		fmt.Fprintf(&b, "  - action: Allow\n    http: [{methods: [GET], paths: [{glob: \"/*/g%d\"}]}]\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "many-globs.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := NewDirLoader()(dir, nil, nil)
	var le *LoadError
	if !errors.As(err, &le) || le.Stage != "compile" || !strings.Contains(err.Error(), "at most 16") {
		t.Fatalf("load: %v, want a compile-stage LoadError naming the limit", err)
	}
}
