package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// bundlePolicy protects orders:8080 with the logic of the bundle module
// authz/orders.rego (policy/bundle/testdata/bundle): methods come from the
// bundle's data.config, admin paths from its package lib.paths.
const bundlePolicy = `apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata:
  name: orders-bundle
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: orders
  ports:
  - port: 8080
  rego:
    file: authz/orders.rego
`

// buildBundle runs the pinned `opa build` on policy/bundle/testdata/bundle
// with files replaced (path -> content), and returns the tarball.
func buildBundle(t *testing.T, files map[string]string) []byte {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := os.CopyFS(dir, os.DirFS("../../policy/bundle/testdata/bundle")); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	opa, err := filepath.Abs("../../scripts/opa.sh")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "b.tar.gz")
	cmd := exec.Command(opa, "build", "-b", ".", "-o", out)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("opa build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// bundleServer is an OPA bundle service: ETag, If-None-Match, 304.
type bundleServer struct {
	mu         sync.Mutex
	body       []byte
	etag       string
	notChanged int
}

func (s *bundleServer) set(body []byte, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag = body, etag
}

func (s *bundleServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("If-None-Match") == s.etag {
		s.notChanged++
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("ETag", s.etag)
	w.Write(s.body)
}

// The real agent enforces a policy whose Rego comes from an OPA bundle
// served over HTTP (built by the real `opa build`), on real traffic in
// network namespaces (10.95.1.0/24): a new bundle (new ETag) changes the
// verdicts within a poll; polls of an unchanged bundle (304) apply
// nothing; a broken update changes nothing and is counted.
func TestBundleFromABundleService(t *testing.T) {
	tp := newTopoOn(t, "10.95.1")
	writeFile(t, tp.dir, "orders.yaml", bundlePolicy)
	srv := &bundleServer{}
	srv.set(buildBundle(t, nil), `"v1"`)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	src := hs.URL + "/bundles/orders.tar.gz"
	a := startAgentWith(t, tp.dir, testPinDir(t), []string{"--bundle", src, "--bundle-interval", "200ms"}, tp.ports()...)

	check := func(what string, want map[string]string) {
		t.Helper()
		for req, w := range want {
			method, path, _ := strings.Cut(req, " ")
			if got := goOutcome(tp.web, method, tp.url+path); got != w {
				t.Errorf("%s: %s: %s, want %s", what, req, got, w)
			}
		}
	}
	check("bundle v1", map[string]string{"GET /x": "200", "POST /x": "reset", "GET /admin/x": "reset"})

	// Unchanged bundle: polls answered 304, nothing reloaded.
	gen := a.Metric("axon_policy_generation", nil)
	a.WaitMetric("axon_bundle_loads_total", map[string]string{"bundle": src, "result": "unchanged"}, 10*time.Second,
		func(v float64) bool { return v >= 5 })
	if g := a.Metric("axon_policy_generation", nil); g != gen {
		t.Errorf("policy generation %v -> %v while the bundle did not change", gen, g)
	}

	// A new bundle: new verdicts.
	srv.set(buildBundle(t, map[string]string{"config/data.json": `{"methods": ["POST"], "admin_prefix": "/root"}`}), `"v2"`)
	changed := time.Now()
	a.WaitMetric("axon_bundle_loads_total", map[string]string{"bundle": src, "result": "new"}, 10*time.Second,
		func(v float64) bool { return v == 2 })
	a.WaitMetric("axon_policy_generation", nil, 10*time.Second, func(v float64) bool { return v == gen+1 })
	t.Logf("new bundle applied %v after the server changed it (polling every 200 ms)", time.Since(changed).Round(time.Millisecond))
	check("bundle v2", map[string]string{"GET /x": "reset", "POST /x": "200", "POST /admin/x": "200", "POST /root/x": "reset"})

	// A broken update: counted, nothing applied, v2 stays in force.
	gen = a.Metric("axon_policy_generation", nil)
	srv.set([]byte("not a tarball"), `"v3"`)
	a.WaitMetric("axon_bundle_loads_total", map[string]string{"bundle": src, "result": "error"}, 10*time.Second,
		func(v float64) bool { return v >= 2 })
	if ok := a.Metric("axon_bundle_ok", map[string]string{"bundle": src}); ok != 0 {
		t.Errorf("axon_bundle_ok %v after failed polls", ok)
	}
	if g := a.Metric("axon_policy_generation", nil); g != gen {
		t.Errorf("policy generation %v -> %v after a broken bundle", gen, g)
	}
	check("after a broken update", map[string]string{"GET /x": "reset", "POST /x": "200"})

	// An update that reads but does not compile is refused: v2 stays, and
	// an edit of the policy directory still applies (with v2).
	srv.set(buildBundle(t, map[string]string{"authz/orders.rego": strings.Replace(mustRead(t,
		"../../policy/bundle/testdata/bundle/authz/orders.rego"), "input.method in data.config.methods", `upper(input.path) == "/X"`, 1)}), `"v4"`)
	a.WaitMetric("axon_bundle_loads_total", map[string]string{"bundle": src, "result": "invalid"}, 10*time.Second,
		func(v float64) bool { return v >= 2 })
	if g := a.Metric("axon_policy_generation", nil); g != gen {
		t.Errorf("policy generation %v -> %v after a bundle that does not compile", gen, g)
	}
	check("after an update that does not compile", map[string]string{"GET /x": "reset", "POST /x": "200"})
	writeFile(t, tp.dir, "orders.yaml", strings.Replace(bundlePolicy, "  rego:\n", "  defaultAction: Allow\n  rego:\n", 1))
	a.WaitMetric("axon_policy_generation", nil, 10*time.Second, func(v float64) bool { return v == gen+1 })
	check("directory edited, bundle v2", map[string]string{"GET /x": "200", "POST /x": "200", "POST /root/x": "reset"})
	if !strings.Contains(a.Logs.String(), "bundle update refused; the last good bundle stays") {
		t.Error("the refused update was not logged")
	}
	if strings.Contains(a.Logs.String(), "http observer: policy directory has errors") {
		t.Error("the HTTP observer does not see the bundle's modules")
	}
	if !strings.Contains(a.Logs.String(), "bundle update failed; the last good bundle stays") {
		t.Error("the broken update was not logged")
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
