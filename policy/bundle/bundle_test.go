package bundle_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/axon-dev/axon/agent"
	"github.com/axon-dev/axon/policy/bundle"
	"github.com/axon-dev/axon/policy/source"
	"github.com/axon-dev/axon/policy/table"
)

const (
	bundleDir = "testdata/bundle"
	policyDir = "testdata/policies"
)

// opaBuild runs the pinned `opa build` (scripts/opa.sh) on dir and returns
// the tarball's bytes. It runs in dir, as `opa build -b .`: opa build keeps
// the module paths as given on its command line.
func opaBuild(t *testing.T, dir string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bundle.tar.gz")
	opa, err := filepath.Abs("../../scripts/opa.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(opa, "build", "-b", ".", "-o", out)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("CI") != "true" && os.Getenv("AXON_REQUIRE_ROOT") != "1" && bytes.Contains(b, []byte("building opa")) {
			t.Skipf("no OPA CLI (scripts/opa.sh could not build it): %s", b)
		}
		t.Fatalf("opa build: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// variant copies testdata/bundle with files replaced (path -> content).
func variant(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := os.CopyFS(dir, os.DirFS(bundleDir)); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// unsupportedModule is valid Rego (opa build takes it) that the datapath
// cannot enforce.
const unsupportedModule = `package orders

import rego.v1

import data.lib.paths

deny if paths.admin(input.path)

allow if upper(input.path) == "/X"
`

// A tarball built by the real `opa build` and the directory it was built
// from read the same: modules and tests by path, data by key.
func TestTarballAndDirectory(t *testing.T) {
	tgz := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := os.WriteFile(tgz, opaBuild(t, bundleDir), 0o644); err != nil {
		t.Fatal(err)
	}
	fromTar, err := bundle.Load(tgz)
	if err != nil {
		t.Fatal(err)
	}
	fromDir, err := bundle.Load(bundleDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*bundle.Bundle{fromTar, fromDir} {
		if len(b.Modules) != 2 || b.Modules["authz/orders.rego"] == "" || b.Modules["lib/paths.rego"] == "" {
			t.Errorf("%s: modules %v", b.Source, keys(b.Modules))
		}
		if len(b.Tests) != 1 || b.Tests["authz/orders_test.rego"] == "" {
			t.Errorf("%s: tests %v", b.Source, keys(b.Tests))
		}
		cfg, _ := b.Data["config"].(map[string]any)
		if cfg["admin_prefix"] != "/admin" {
			t.Errorf("%s: data %v", b.Source, b.Data)
		}
	}
	if fromTar.Fingerprint != fromDir.Fingerprint {
		t.Error("the tarball and its directory differ")
	}
	if _, err := bundle.Load(filepath.Join(t.TempDir(), "missing.tar.gz")); err == nil {
		t.Error("a missing bundle loaded")
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// server is an OPA bundle service whose bundle the test replaces.
type server struct {
	mu                     sync.Mutex
	body                   []byte
	etag                   string
	requests, notModified  int
	conditional, matchSeen int
}

func (s *server) set(body []byte, etag string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.etag = body, etag
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		s.conditional++
		if inm == s.etag {
			s.notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	w.Header().Set("ETag", s.etag)
	w.Header().Set("Content-Type", "application/gzip")
	w.Write(s.body)
}

func (s *server) counts() (requests, notModified int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests, s.notModified
}

// decide decides a request from web-0 to orders-0:8080.
func decide(t *table.Table, method, path string) table.DecisionAction {
	return t.Decide(table.Request{Src: netip.MustParseAddr("10.95.0.11"), Dst: netip.MustParseAddrPort("10.95.0.10:8080"),
		Method: method, Target: path}).Action
}

func changed(w *bundle.Watcher) bool {
	select {
	case <-w.Changed():
		return true
	default:
		return false
	}
}

// The agent's loader with a bundle served over HTTP, as OPA's bundle
// service serves it: a policy of the directory takes its module from the
// bundle, the module imports another bundle package and reads bundle data.
// A poll while the ETag is unchanged gets 304 and asks for no reload; a
// new ETag brings a new bundle and a new table; a broken update is logged
// and counted and the last good bundle stays.
func TestBundleServiceWithETags(t *testing.T) {
	ctx := context.Background()
	v1 := opaBuild(t, bundleDir)
	v2 := opaBuild(t, variant(t, map[string]string{"config/data.json": `{"methods": ["POST"], "admin_prefix": "/root"}`}))
	v3 := opaBuild(t, variant(t, map[string]string{"authz/orders.rego": unsupportedModule}))
	srv := &server{}
	srv.set(v1, `"v1"`)
	hs := httptest.NewServer(srv)
	defer hs.Close()

	w := bundle.NewWatcher([]string{hs.URL + "/bundles/orders.tar.gz"}, nil)
	w.Check = func(candidate, current []*bundle.Bundle) error { // as axon-agent sets it
		return agent.CheckExtras(policyDir, bundle.Extras(candidate), bundle.Extras(current))
	}
	reg := prometheus.NewRegistry()
	if err := w.Register(reg); err != nil {
		t.Fatal(err)
	}
	load := agent.NewBundleDirLoader(func() []source.Extra { return bundle.Extras(w.Bundles()) })
	src := hs.URL + "/bundles/orders.tar.gz"
	metric := func(result string) float64 {
		return prometheusCounter(t, reg, "axon_bundle_loads_total", src, result)
	}

	// Before the first poll the policy's module does not exist: no table.
	if _, _, err := load(policyDir, nil, nil); err == nil || !strings.Contains(err.Error(), "authz/orders.rego") {
		t.Fatalf("load without the bundle: %v", err)
	}
	if ch, err := w.Poll(ctx); err != nil || !ch || !changed(w) {
		t.Fatalf("first poll: changed %v, %v", ch, err)
	}
	t1, _, err := load(policyDir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if decide(t1, "GET", "/x") != table.DecisionAllow || decide(t1, "POST", "/x") != table.DecisionDeny ||
		decide(t1, "GET", "/admin/x") != table.DecisionDeny {
		t.Error("v1 table does not follow data.config of v1")
	}

	// Unchanged: 304, nothing to reload.
	if ch, err := w.Poll(ctx); err != nil || ch || changed(w) {
		t.Fatalf("poll of an unchanged bundle: changed %v, %v", ch, err)
	}
	if req, nm := srv.counts(); req != 2 || nm != 1 {
		t.Errorf("%d requests, %d answered 304; want 2 and 1", req, nm)
	}

	// A new ETag: the new bundle and a new table.
	srv.set(v2, `"v2"`)
	if ch, err := w.Poll(ctx); err != nil || !ch || !changed(w) {
		t.Fatalf("poll of a new bundle: changed %v, %v", ch, err)
	}
	t2, _, err := load(policyDir, nil, t1)
	if err != nil {
		t.Fatal(err)
	}
	if decide(t2, "GET", "/x") != table.DecisionDeny || decide(t2, "POST", "/x") != table.DecisionAllow ||
		decide(t2, "POST", "/admin/x") != table.DecisionAllow || decide(t2, "POST", "/root/x") != table.DecisionDeny {
		t.Error("v2 table does not follow data.config of v2")
	}

	// A broken update (a truncated tarball): logged, counted, not used; the
	// ETag is not remembered, so the next poll downloads again.
	good := w.Bundles()[0].Fingerprint
	srv.set(v1[:len(v1)/2], `"v3"`)
	for range 2 {
		if ch, err := w.Poll(ctx); err == nil || ch || changed(w) {
			t.Fatalf("poll of a broken bundle: changed %v, %v", ch, err)
		}
	}
	if bs := w.Bundles(); len(bs) != 1 || bs[0].Fingerprint != good {
		t.Error("the last good bundle was dropped")
	}
	if req, nm := srv.counts(); req != 5 || nm != 1 {
		t.Errorf("%d requests, %d answered 304; want 5 and 1", req, nm)
	}
	if metric("error") != 2 || metric("new") != 2 || metric("unchanged") != 1 {
		t.Errorf("loads: new %v unchanged %v error %v", metric("new"), metric("unchanged"), metric("error"))
	}
	if v := prometheusGauge(t, reg, "axon_bundle_ok", src); v != 0 {
		t.Errorf("axon_bundle_ok %v after a failed poll", v)
	}
	t3, _, err := load(policyDir, nil, t2)
	if err != nil || decide(t3, "POST", "/x") != table.DecisionAllow {
		t.Errorf("with the last good bundle: %v", err)
	}

	// An update that reads but does not compile (a construct outside the
	// supported fragment) is refused by the check; it is downloaded and
	// checked again at each poll.
	srv.set(v3, `"v3b"`)
	for range 2 {
		ch, err := w.Poll(ctx)
		if err == nil || ch || changed(w) || !strings.Contains(err.Error(), "authz/orders.rego:9") {
			t.Fatalf("poll of a bundle that does not compile: changed %v, %v", ch, err)
		}
	}
	if bs := w.Bundles(); len(bs) != 1 || bs[0].Fingerprint != good {
		t.Error("a bundle that does not compile replaced the last good one")
	}
	if req, nm := srv.counts(); req != 7 || nm != 1 {
		t.Errorf("%d requests, %d answered 304; want 7 and 1", req, nm)
	}
	if metric("invalid") != 2 {
		t.Errorf("invalid loads %v, want 2", metric("invalid"))
	}

	// Fixed: v1 again under a new ETag.
	srv.set(v1, `"v4"`)
	if ch, err := w.Poll(ctx); err != nil || !ch {
		t.Fatalf("poll of the fixed bundle: changed %v, %v", ch, err)
	}
	if v := prometheusGauge(t, reg, "axon_bundle_ok", src); v != 1 {
		t.Errorf("axon_bundle_ok %v after a good poll", v)
	}
}

// A bundle module path that is also a file of the policy directory is an
// error, not a silent pick.
func TestBundleModuleShadowingAFileIsAnError(t *testing.T) {
	b, err := bundle.Load(bundleDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(policyDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "authz"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authz", "orders.rego"), []byte("package x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, probs, err := source.Load(dir, b.Extra())
	if err != nil {
		t.Fatal(err)
	}
	if len(probs.Errors()) != 1 || !strings.Contains(probs.Errors()[0].String(), "module authz/orders.rego is also a file") {
		t.Errorf("problems: %v", probs)
	}
}
