package agent

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/axon-dev/axon/policy/table"
)

// A change made while a reload is compiling is applied after it: the
// reload that follows compiles the directory as it is then (with the bytes
// the watcher read, when it hands them on), never the state before.
func TestChangeDuringReloadIsApplied(t *testing.T) {
	needRoot(t)
	name := vethName()
	addVeth(t, name)
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(p, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string // what each load read of p.yaml
	block, blocked := make(chan struct{}), make(chan struct{})
	load := func(dir string, files map[string][]byte, _ *table.Table) (*table.Table, []string, error) {
		b, ok := files["p.yaml"]
		if !ok {
			var err error
			if b, err = os.ReadFile(filepath.Join(dir, "p.yaml")); err != nil {
				return nil, nil, err
			}
		}
		mu.Lock()
		seen = append(seen, string(b))
		n := len(seen)
		mu.Unlock()
		if string(b) == "v2" && n == 2 {
			close(blocked)
			<-block // compiling v2 while v3 is written
		}
		return &table.Table{}, nil, nil
	}
	a := startAgent(t, Config{PolicyDir: dir, Interfaces: []string{name}, PollInterval: time.Hour},
		newTestDatapath(t), load)
	waitFor(t, 5*time.Second, "the first load", func() bool { return a.generationNow() == 1 })
	time.Sleep(50 * time.Millisecond) // the watch has started
	if err := os.WriteFile(p, []byte("v2"), 0o644); err != nil {
		t.Fatal(err)
	}
	select {
	case <-blocked:
	case <-time.After(5 * time.Second):
		t.Fatal("the change to v2 was not loaded")
	}
	if err := os.WriteFile(p, []byte("v3"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the watcher reports v3 meanwhile
	close(block)
	waitFor(t, 5*time.Second, "v3 to be applied", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return a.generationNow() >= 3 && seen[len(seen)-1] == "v3"
	})
	mu.Lock()
	defer mu.Unlock()
	if seen[0] != "v1" || seen[1] != "v2" {
		t.Errorf("loads read %q, want v1, v2, then v3", seen)
	}
}
