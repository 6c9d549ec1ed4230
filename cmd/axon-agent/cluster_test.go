package main

import (
	"os"
	"testing"
)

func TestClusterModeCommandLines(t *testing.T) {
	t.Setenv("NODE_NAME", "")
	dir := t.TempDir()
	cases := map[string][]string{
		"kubeconfig and policy dir": {"--kubeconfig", dir + "/kc", "--node-name", "n1", "--policy-dir", dir},
		"in-cluster and policy dir": {"--in-cluster", "--node-name", "n1", "--policy-dir", dir},
		"no node name":              {"--kubeconfig", dir + "/kc"},
		"stray argument":            {"--in-cluster", "--node-name", "n1", "extra"},
	}
	devnull, _ := os.Open(os.DevNull)
	defer devnull.Close()
	stderr := os.Stderr
	os.Stderr = devnull
	defer func() { os.Stderr = stderr }()
	for name, args := range cases {
		if code := run(args); code != 2 {
			t.Errorf("%s: exit code %d, want 2", name, code)
		}
	}
	// A kubeconfig that cannot be read is a start failure, not a usage error.
	if code := run([]string{"--kubeconfig", dir + "/missing", "--node-name", "n1", "--metrics-addr", "127.0.0.1:0"}); code != 1 {
		t.Errorf("missing kubeconfig: exit code %d, want 1", code)
	}
}
