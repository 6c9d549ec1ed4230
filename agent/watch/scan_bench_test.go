package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkScanAfterConfigMapSwitch: the scan of a ConfigMap of 1,000
// policies after ..data switched to a new version (every file a new inode,
// so every file is read), with the hasher of the scan before.
func BenchmarkScanAfterConfigMapSwitch(b *testing.B) {
	dir := b.TempDir()
	const n = 1000
	content := func(v, i int) string {
		return fmt.Sprintf("apiVersion: axon.dev/v1alpha1\nkind: L7NetworkPolicy\nmetadata:\n  name: p%d\n  version: %d\nspec:\n  rules:\n  - path: /api/v%d/items\n    methods: [GET, POST]\n", i, v, i)
	}
	version := func(v int) {
		ts := filepath.Join(dir, fmt.Sprintf("..ts%d", v))
		if err := os.Mkdir(ts, 0o755); err != nil {
			b.Fatal(err)
		}
		for i := range n {
			if err := os.WriteFile(filepath.Join(ts, fmt.Sprintf("p%04d.yaml", i)), []byte(content(v, i)), 0o644); err != nil {
				b.Fatal(err)
			}
		}
		if err := os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data_tmp")); err != nil {
			b.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			b.Fatal(err)
		}
	}
	version(0)
	for i := range n {
		name := fmt.Sprintf("p%04d.yaml", i)
		if err := os.Symlink("..data/"+name, filepath.Join(dir, name)); err != nil {
			b.Fatal(err)
		}
	}
	h := NewHasher()
	if _, err := h.Fingerprint(dir); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		version(i + 1)
		_ = os.RemoveAll(filepath.Join(dir, fmt.Sprintf("..ts%d", i)))
		b.StartTimer()
		if _, err := h.Fingerprint(dir); err != nil {
			b.Fatal(err)
		}
	}
}
