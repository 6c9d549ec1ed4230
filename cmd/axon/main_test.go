package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axon-dev/axon/policy/source"
)

const examples = "../../examples/policies"

func axon(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String() + errb.String()
}

// copyExamples returns a scratch copy of examples/policies.
func copyExamples(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "policies")
	if err := os.CopyFS(dir, os.DirFS(examples)); err != nil {
		t.Fatal(err)
	}
	return dir
}

func edit(t *testing.T, file, old, new string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(file, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCompileExamples(t *testing.T) {
	code, out := axon(t, "policy", "compile", examples)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	// The demo's policies protect orders:8080 (and, through the
	// podSelector {} policies, the other shop pods' port 8080).
	for _, want := range []string{"5 policies (4 Enforce, 1 Audit)", "10.77.0.10:8080", "shop/orders-0", "identities: 4 pod"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

func TestCompileReportsErrorsWithFileLine(t *testing.T) {
	dir := copyExamples(t)
	file := filepath.Join(dir, "admin-deny.yaml")
	edit(t, file, "prefix: /admin", "prefix: /admin/../x")
	want := fmt.Sprintf("admin-deny.yaml:%d: error:", lineOf(t, file, "prefix: /admin/../x"))
	code, out := axon(t, "policy", "compile", dir)
	if code != exitFail || !strings.Contains(out, want) || !strings.Contains(out, "non-canonical") {
		t.Errorf("exit %d, want %d and %q:\n%s", code, exitFail, want, out)
	}
}

func TestCompileReportsUnsupportedRegoWithFileLine(t *testing.T) {
	dir := copyExamples(t)
	rego := filepath.Join(dir, "reports_access.rego")
	edit(t, rego, `startswith(input.path, "/api/v1/reports")`, `count(input.path) > 40`)
	line := lineOf(t, rego, "count(input.path)")
	code, out := axon(t, "policy", "compile", dir)
	if code != exitFail || !strings.Contains(out, fmt.Sprintf("reports_access.rego:%d", line)) {
		t.Errorf("exit %d, want %d and an error at reports_access.rego:%d:\n%s", code, exitFail, line, out)
	}
}

func TestTestExamplesPass(t *testing.T) {
	samples, problems, err := source.LoadSamples(examples)
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	code, out := axon(t, "policy", "test", examples)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	want := fmt.Sprintf("%d/%d samples passed", len(samples), len(samples))
	if !strings.Contains(out, want) || !strings.Contains(out, "PASS reports_access_test.rego:") {
		t.Errorf("output lacks %q or the Rego test results:\n%s", want, out)
	}
}

// Every example policy must be exercised by samples it decides, with both
// outcomes across the directory.
func TestEveryExamplePolicyHasSamples(t *testing.T) {
	set, _, err := source.Load(examples)
	if err != nil {
		t.Fatal(err)
	}
	samples, _, err := source.LoadSamples(examples)
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Policies) < 5 {
		t.Errorf("%d example policies, want at least 5", len(set.Policies))
	}
	for _, p := range set.Policies {
		outcomes := map[string]bool{}
		for _, s := range samples {
			if s.Policy == p.Namespace+"/"+p.Name {
				outcomes[s.Expect] = true
			}
		}
		if len(outcomes) == 0 {
			t.Errorf("no sample is decided by policy %s/%s", p.Namespace, p.Name)
		}
	}
	expect := map[string]int{}
	for _, s := range samples {
		expect[s.Expect]++
	}
	if expect["allow"] == 0 || expect["deny"] == 0 || expect["audit_deny"] == 0 {
		t.Errorf("samples per outcome %v, want each of allow, deny, audit_deny", expect)
	}
}

// A sample that expects deny must fail the command when the policies allow
// the request: here the Rego policy that denies web the reports is removed.
func TestTestFailsWhenDeniedSampleIsAllowed(t *testing.T) {
	dir := copyExamples(t)
	if err := os.Remove(filepath.Join(dir, "reports-access.yaml")); err != nil {
		t.Fatal(err)
	}
	line := lineOf(t, filepath.Join(dir, "samples.yaml"), "- name: web may not read reports")
	code, out := axon(t, "policy", "test", dir)
	want := fmt.Sprintf("FAIL samples.yaml:%d web may not read reports", line)
	if code != exitFail || !strings.Contains(out, want) || !strings.Contains(out, "got allow") {
		t.Errorf("exit %d, want %d and %q ... got allow:\n%s", code, exitFail, want, out)
	}
}

func TestTestFailsOnWrongExpectation(t *testing.T) {
	dir := copyExamples(t)
	samples := filepath.Join(dir, "samples.yaml")
	line := lineOf(t, samples, "- name: a batch write passes but is counted")
	edit(t, samples, "request: POST /api/v1/reports\n  expect: audit_deny", "request: POST /api/v1/reports\n  expect: allow")
	code, out := axon(t, "policy", "test", dir)
	if code != exitFail || !strings.Contains(out, fmt.Sprintf("FAIL samples.yaml:%d", line)) {
		t.Errorf("exit %d, want %d and a failure at samples.yaml:%d:\n%s", code, exitFail, line, out)
	}
}

func TestTestFailsOnFailingRegoTest(t *testing.T) {
	dir := copyExamples(t)
	edit(t, filepath.Join(dir, "reports_access.rego"), `input.source.labels.app == "prober"`, `input.source.labels.app == "web"`)
	code, out := axon(t, "policy", "test", dir)
	if code != exitFail || !strings.Contains(out, "FAIL reports_access_test.rego:") {
		t.Errorf("exit %d, want %d and a failed Rego test:\n%s", code, exitFail, out)
	}
}

// The Rego policy works the same when its module comes from a ConfigMap.
func TestRegoModuleFromConfigMap(t *testing.T) {
	dir := copyExamples(t)
	module, err := os.ReadFile(filepath.Join(dir, "reports_access.rego"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "reports_access.rego")); err != nil {
		t.Fatal(err)
	}
	edit(t, filepath.Join(dir, "reports-access.yaml"), "file: reports_access.rego", "configMapRef: {name: reports-rego, key: policy.rego}")
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: reports-rego, namespace: shop}\ndata:\n  policy.rego: |\n" +
		"    " + strings.ReplaceAll(strings.TrimSpace(string(module)), "\n", "\n    ") + "\n"
	if err := os.WriteFile(filepath.Join(dir, "configmap.yaml"), []byte(cm), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := axon(t, "policy", "test", dir)
	if code != exitOK || !strings.Contains(out, "shop/reports-access rego `deny` (Deny, Enforce) at shop/reports-rego/policy.rego:") {
		t.Errorf("exit %d, want %d and the rego deny rule at its ConfigMap key:\n%s", code, exitOK, out)
	}
}

func TestExplain(t *testing.T) {
	line := lineOf(t, filepath.Join(examples, "reports_access.rego"), "deny if {")
	code, out := axon(t, "policy", "explain", examples, "--from", "web", "--to", "orders:8080", "GET /api/v1/reports/daily")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"decision  deny",
		fmt.Sprintf("shop/reports-access rego `deny` (Deny, Enforce) at reports_access.rego:%d", line),
		"beats every Allow rule",
		"shop/orders-api (Enforce, defaultAction Deny)",
		"opa       full evaluation of the Rego library agrees",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}

	code, out = axon(t, "policy", "explain", examples, "--from", "batch", "--to", "orders:8080", "POST /api/v1/orders")
	if code != exitOK || !strings.Contains(out, "decision  audit_deny") || !strings.Contains(out, "shop/batch-readonly rules[0] (Deny, Audit)") {
		t.Errorf("exit %d, audit explanation:\n%s", code, out)
	}

	// Decided as the datapath decides (issue 9 class 15): a method that
	// is not a token is not_http, the path is shown in canonical form.
	code, out = axon(t, "policy", "explain", examples, "--from", "web", "--to", "orders:8080", "G@T /api/v1/items")
	if code != exitOK || !strings.Contains(out, "decision  deny") || !strings.Contains(out, "not_http") {
		t.Errorf("exit %d, invalid method:\n%s", code, out)
	}
	code, out = axon(t, "policy", "explain", examples, "--from", "web", "--to", "orders:8080", "GET /api/v1/items/%40me")
	if code != exitOK || !strings.Contains(out, "/api/v1/items/@me (canonical form of /api/v1/items/%40me)") {
		t.Errorf("exit %d, canonical form:\n%s", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"policy"},
		{"policy", "frobnicate", examples},
		{"policy", "compile"},
		{"policy", "compile", examples, "extra"},
		{"policy", "explain", examples, "GET /"},
		{"policy", "explain", examples, "--from", "web", "--to", "orders:8080"},
		{"policy", "test", "--bogus", examples},
	} {
		if code, out := axon(t, args...); code != exitUsage || !strings.Contains(out, "usage:") {
			t.Errorf("axon %q: exit %d, want %d with usage:\n%s", args, code, exitUsage, out)
		}
	}
	if code, out := axon(t, "policy", "explain", examples, "--from", "nobody", "--to", "orders:8080", "GET /"); code != exitFail || !strings.Contains(out, `unknown pod "nobody"`) {
		t.Errorf("unknown source: exit %d:\n%s", code, out)
	}
	if code, out := axon(t, "policy", "explain", examples, "--from", "fe80::1", "--to", "orders:8080", "GET /"); code != exitFail || !strings.Contains(out, "fe80::1 is link-local") {
		t.Errorf("link-local source: exit %d, want %d and a message naming it:\n%s", code, exitFail, out)
	}
	if code, _ := axon(t, "policy", "compile", filepath.Join(t.TempDir(), "missing")); code != exitFail {
		t.Errorf("missing directory: exit %d, want %d", code, exitFail)
	}
}

// lineOf returns the 1-based line of the first line of file containing s.
func lineOf(t *testing.T, file, s string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line containing %q", file, s)
	return 0
}

// What compiles must load: a folder the datapath could not hold is refused
// by `axon policy compile`, with the limit and the figure.
func TestCompileRefusesWhatTheDatapathCannotLoad(t *testing.T) {
	dir := copyExamples(t)
	var b strings.Builder
	b.WriteString("apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata: {name: many-globs, namespace: shop}\nspec:\n  podSelector: {matchLabels: {app: orders}}\n  ports: [{port: 8080}]\n  rules:\n")
	for i := range 20 {
		fmt.Fprintf(&b, "  - action: Allow\n    http: [{methods: [GET], paths: [{glob: \"/*/g%d\"}]}]\n", i)
	}
	if err := os.WriteFile(filepath.Join(dir, "many-globs.yaml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := axon(t, "policy", "compile", dir)
	if code != exitFail || !strings.Contains(out, "glob rules could match one request") || !strings.Contains(out, "at most 16") {
		t.Errorf("exit %d, want %d and the glob limit:\n%s", code, exitFail, out)
	}
}

// --max-path-rows checks the table against the size the agent will run
// with: the examples (a few dozen path rows) are refused at 5 rows, naming
// the flag, and compile again without it.
func TestCompileChecksTheAgentsMapSizes(t *testing.T) {
	code, out := axon(t, "policy", "compile", "--max-path-rows", "5", examples)
	if code != exitFail || !strings.Contains(out, "at most 5") || !strings.Contains(out, "raise --max-path-rows") {
		t.Errorf("--max-path-rows 5: exit %d, want %d naming the limit and the flag:\n%s", code, exitFail, out)
	}
	if code, out := axon(t, "policy", "compile", examples); code != exitOK {
		t.Errorf("without the flag after it: exit %d:\n%s", code, out)
	}
	if code, out := axon(t, "policy", "compile", "--max-path-rows", "100000", examples); code != exitOK || !strings.Contains(out, "at most 100000;") {
		t.Errorf("--max-path-rows 100000: exit %d, want %d and the limit in the summary:\n%s", code, exitOK, out)
	}
	if code, out := axon(t, "policy", "compile", "--max-path-rows", "0", examples); code != exitUsage || !strings.Contains(out, "--max-path-rows 0") {
		t.Errorf("--max-path-rows 0: exit %d, want %d:\n%s", code, exitUsage, out)
	}
}
