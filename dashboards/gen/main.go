// Command gen writes Axon's Grafana dashboards (policy.json, services.json,
// agent.json) from Go with the Grafana Foundation SDK, so the JSON in
// dashboards/ is generated, never hand-edited. `make generate` runs it;
// scripts/check-generated.sh fails when the committed files differ.
//
// Usage: go run ./dashboards/gen -out dashboards
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

func main() {
	out := flag.String("out", "dashboards", "directory the dashboards are written to")
	flag.Parse()
	if err := write(*out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// dashboards maps each output file to its builder.
var dashboards = map[string]func() *dashboard.DashboardBuilder{
	"policy.json":   policyDashboard,
	"services.json": servicesDashboard,
	"agent.json":    agentDashboard,
}

func write(dir string) error {
	for name, build := range dashboards {
		d, err := build().Build()
		if err != nil {
			return fmt.Errorf("building %s: %w", name, err)
		}
		number(&d)
		data, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return fmt.Errorf("encoding %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), append(data, '\n'), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", name, err)
		}
	}
	return nil
}

// number gives every panel a unique id and every query without one a
// reference id (A, B, ...), as Grafana would on first save, so the files
// are stable and panels can be linked to.
func number(d *dashboard.Dashboard) {
	for i := range d.Panels {
		id := uint32(i + 1)
		switch p := d.Panels[i]; {
		case p.RowPanel != nil:
			p.RowPanel.Id = id
		case p.Panel != nil:
			p.Panel.Id = &id
			for j, t := range p.Panel.Targets {
				if q, ok := t.(prometheus.Dataquery); ok && q.RefId == nil {
					q.RefId = ptr(string(rune('A' + j)))
					p.Panel.Targets[j] = q
				}
			}
		}
	}
}
