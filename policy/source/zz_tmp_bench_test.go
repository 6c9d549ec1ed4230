package source_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/axon-dev/axon/bench/scaleset"
	"github.com/axon-dev/axon/policy/source"
)

func BenchmarkTmpCachedLoad(b *testing.B) {
	dir := b.TempDir()
	for n, c := range (scaleset.Set{Pods: 200, Policies: 1000}).Files(nil, 0) {
		os.WriteFile(filepath.Join(dir, n), []byte(c), 0o644)
	}
	c := source.NewCache()
	c.Load(dir)
	for b.Loop() {
		if _, _, err := c.Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
