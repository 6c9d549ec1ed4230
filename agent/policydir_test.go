package agent

import (
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

// A policy directory that disappears is logged once, not on every poll, and
// shown by axon_policy_dir_readable; the policy in force stays.
func TestMissingPolicyDirLoggedOnce(t *testing.T) {
	needRoot(t)
	name := vethName()
	addVeth(t, name)
	dir := t.TempDir()
	logs := &lockedBuffer{}
	a := startAgent(t, Config{PolicyDir: dir, Interfaces: []string{name}, PollInterval: 10 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, nil))}, newTestDatapath(t), emptyLoader)
	waitFor(t, 5*time.Second, "the agent to be ready", func() bool {
		return a.Ready() == nil && value(t, a, "axon_policy_dir_readable", nil) == 1
	})

	if err := os.Rename(dir, dir+".gone"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "axon_policy_dir_readable to drop", func() bool {
		return value(t, a, "axon_policy_dir_readable", nil) == 0
	})
	time.Sleep(300 * time.Millisecond) // about 30 failed polls
	if n := strings.Count(logs.String(), "cannot read the policy directory"); n != 1 {
		t.Errorf("the missing directory was logged %d times, want once:\n%s", n, logs)
	}
	if !strings.Contains(logs.String(), "in_force=last_applied") {
		t.Errorf("the log does not say the policy in force stays:\n%s", logs)
	}
	if err := a.Ready(); err != nil {
		t.Errorf("not ready while the applied policy stays in force: %v", err)
	}

	if err := os.Rename(dir+".gone", dir); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "axon_policy_dir_readable to come back", func() bool {
		return value(t, a, "axon_policy_dir_readable", nil) == 1
	})
	if !strings.Contains(logs.String(), "policy directory readable again") {
		t.Errorf("the log does not say the directory is back:\n%s", logs)
	}
}
