package main

import (
	"os"
	"path/filepath"
	"testing"

	"encoding/json"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// TestCommittedDashboardsCurrent: the JSON in dashboards/ is what this
// generator writes now (make generate was run after the last change), and
// it reads back as Grafana dashboards with the SDK's own types.
func TestCommittedDashboardsCurrent(t *testing.T) {
	dir := t.TempDir()
	if err := write(dir); err != nil {
		t.Fatal(err)
	}
	plugins.RegisterDefaultPlugins()
	for name := range dashboards {
		fresh, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(filepath.Join("..", name))
		if err != nil {
			t.Fatalf("%s: %v (run make generate)", name, err)
		}
		if string(fresh) != string(committed) {
			t.Errorf("dashboards/%s differs from the generator's output: run make generate", name)
		}
		var d dashboard.Dashboard
		if err := json.Unmarshal(committed, &d); err != nil {
			t.Errorf("%s does not read back as a dashboard: %v", name, err)
			continue
		}
		if d.Uid == nil || len(d.Panels) < 5 {
			t.Errorf("%s: uid %v, %d panels", name, d.Uid, len(d.Panels))
		}
	}
}
