package observe

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/axon-dev/axon/bench/scaleset"
	"github.com/axon-dev/axon/policy/source"
)

// BenchmarkSync is what the observer's periodic refresh (every
// DefaultRefresh) costs the agent when nothing changed: rereading the
// Pods and HTTPMonitors of a folder of 1,000 policies through the agent's
// decode cache, finding the monitored pods' namespaces and setting the
// namespace filter.
func BenchmarkSync(b *testing.B) {
	dir := b.TempDir()
	for name, text := range (scaleset.Set{Pods: 200, Policies: 1000}).Files(nil, 0) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cache := source.NewCache()
	m, err := NewManagerFrom(func() (*source.Set, source.Problems, error) { return cache.Load(dir) }, HooksAuto, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer m.prog.Close()
	if err := m.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if err := m.Sync(); err != nil {
			b.Fatal(err)
		}
	}
}
