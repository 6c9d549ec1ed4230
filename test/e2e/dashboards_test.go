package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var metricName = regexp.MustCompile(`axon_[a-z0-9_]+`)

// dashboardMetrics returns the metric names the Grafana dashboards and the
// alert rules in dashboards/ query (histogram series by their base name).
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../../dashboards/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards found: %v", err)
	}
	var names []string
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range metricName.FindAllString(string(data), -1) {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				n = strings.TrimSuffix(n, suffix)
			}
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// checkDashboardMetrics fails for every metric the dashboards or alerts
// query that the running agent does not expose: a renamed metric would
// otherwise leave a panel empty and an alert silent.
func checkDashboardMetrics(t *testing.T, a *agentProc) {
	t.Helper()
	code, body, err := a.Get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	exposed := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if f := strings.Fields(line); len(f) >= 3 && (f[1] == "HELP" || f[1] == "TYPE") {
			exposed[f[2]] = true
		}
	}
	for _, n := range dashboardMetrics(t) {
		if !exposed[n] {
			t.Errorf("dashboards/ query %s, which the agent does not expose", n)
		}
	}
}
