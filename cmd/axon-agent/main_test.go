package main

import (
	"os"
	"testing"

	"github.com/axon-dev/axon/test/netns"
)

func TestBadCommandLinesExitWithUsage(t *testing.T) {
	dir := t.TempDir()
	cases := map[string][]string{
		"no flags":            {},
		"no interfaces":       {"--policy-dir", dir},
		"no policy dir":       {"--attach", "eth0"},
		"policy dir missing":  {"--policy-dir", dir + "/nope", "--attach", "eth0"},
		"unknown attach mode": {"--policy-dir", dir, "--attach", "eth0", "--attach-mode", "xdp"},
		"unknown log format":  {"--policy-dir", dir, "--attach", "eth0", "--log-format", "yaml"},
		"stray argument":      {"--policy-dir", dir, "--attach", "eth0", "extra"},
		"no path rows":        {"--policy-dir", dir, "--attach", "eth0", "--max-path-rows", "0"},
		"too many classes":    {"--policy-dir", dir, "--attach", "eth0", "--max-source-classes", "1000000000"},
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
}

func TestCleanupOfNothingSucceeds(t *testing.T) {
	netns.RequireRoot(t)
	if code := cleanup([]string{"--pin-dir", "/sys/fs/bpf/axon-never-created-by-a-test"}); code != 0 {
		t.Errorf("cleanup of an absent pin directory: exit %d, want 0 (idempotent)", code)
	}
}
