package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const testBundle = "../../policy/bundle/testdata/bundle"

// failingTest is added to the bundle so that agreement covers a failure.
const failingTest = `package orders_more_test

import rego.v1

import data.orders

test_delete_allowed if orders.allow with input as {"method": "DELETE", "path": "/x"}

test_root_not_admin if not data.lib.paths.admin("/root")
`

// `axon policy test --bundle` on a tarball built by the real `opa build`
// passes and fails the same tests as `opa test` on it (the bundle's data
// and its packages loaded the same way).
func TestPolicyTestAgreesWithOPATestOnABundle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := os.CopyFS(dir, os.DirFS(testBundle)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "authz", "more_test.rego"), []byte(failingTest), 0o644); err != nil {
		t.Fatal(err)
	}
	opa, err := filepath.Abs("../../scripts/opa.sh")
	if err != nil {
		t.Fatal(err)
	}
	tgz := filepath.Join(t.TempDir(), "bundle.tar.gz")
	build := exec.Command(opa, "build", "-b", ".", "-o", tgz)
	build.Dir = dir
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("opa build: %v\n%s", err, out)
	}
	opaOut, _ := exec.Command(opa, "test", "-v", "-b", tgz).CombinedOutput() // exits 2 on a failed test
	want := results(t, regexp.MustCompile(`(?m)^(data\.\S+): (PASS|FAIL)`), string(opaOut), 1, 2)

	code, out := axon(t, "policy", "test", "--bundle", tgz)
	if code != exitFail {
		t.Errorf("exit %d with a failing test:\n%s", code, out)
	}
	got := results(t, regexp.MustCompile(`(?m)^  (PASS|FAIL) \S+ (data\.\S+)`), out, 2, 1)
	if len(want) != 5 || want["data.orders_more_test.test_delete_allowed"] != "FAIL" || want["data.orders_test.test_get_allowed"] != "PASS" {
		t.Fatalf("opa test gave %v:\n%s", want, opaOut)
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: opa test %s, axon policy test %q", name, w, got[name])
		}
	}
	if len(got) != len(want) {
		t.Errorf("axon ran %d tests, opa %d:\n%s", len(got), len(want), out)
	}
	if !strings.Contains(out, "4/5 Rego tests passed") {
		t.Errorf("summary:\n%s", out)
	}

	// The same bundle as a directory, with a policy directory using it.
	code, out = axon(t, "policy", "compile", "--bundle", dir, "../../policy/bundle/testdata/policies")
	if code != exitOK || !strings.Contains(out, "1 policy") {
		t.Errorf("compile with the bundle: exit %d\n%s", code, out)
	}
}

// results maps test names to PASS/FAIL from a runner's output.
func results(t *testing.T, re *regexp.Regexp, out string, nameGroup, statusGroup int) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, sm := range re.FindAllStringSubmatch(out, -1) {
		m[sm[nameGroup]] = sm[statusGroup]
	}
	return m
}
