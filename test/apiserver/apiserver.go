// Package apiserver gives tests the etcd and kube-apiserver binaries that
// controller-runtime's envtest runs (built from Go modules by
// scripts/envtest-assets.sh, once per machine), and says what a test does
// when there are none: skip, or fail where every test must run.
package apiserver

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Assets returns the folder holding etcd and kube-apiserver:
// $KUBEBUILDER_ASSETS, or what scripts/envtest-assets.sh of this module
// builds and prints.
func Assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	out, err := exec.Command(filepath.Join(root, "scripts", "envtest-assets.sh")).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("scripts/envtest-assets.sh: %w: %s", err, lastLines(string(ee.Stderr), 5))
		}
		return "", fmt.Errorf("scripts/envtest-assets.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Require stops a test that needs the API server when there is none (skip
// says why; "" means there is one): it fails under CI=true or
// AXON_REQUIRE_ROOT=1, where every test must run, and skips otherwise.
func Require(t testing.TB, skip string) {
	t.Helper()
	if skip == "" {
		return
	}
	if os.Getenv("CI") == "true" || os.Getenv("AXON_REQUIRE_ROOT") == "1" {
		t.Fatalf("no API server, and this run requires every test to run (CI=true or AXON_REQUIRE_ROOT=1): %s", skip)
	}
	t.Skip(skip)
}

// moduleRoot is the nearest folder above the working directory with a go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("finding the module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
