package dashboards

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// promtool runs the pinned promtool (scripts/promtool.sh) in dir.
func promtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	script, err := filepath.Abs("../scripts/promtool.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(script, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestAlertRulesPromtool: `promtool check rules` accepts alerts.yaml and
// `promtool test rules` passes the unit tests under tests/.
func TestAlertRulesPromtool(t *testing.T) {
	t.Logf("%s", promtool(t, ".", "check", "rules", "alerts.yaml"))
	files, err := filepath.Glob("tests/*.test.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no rule unit tests under tests/: %v", err)
	}
	for i := range files {
		files[i] = filepath.Base(files[i])
	}
	t.Logf("%s", promtool(t, "tests", append([]string{"test", "rules"}, files...)...))
}

type ruleFile struct {
	Groups []struct {
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type unitTests struct {
	Tests []struct {
		AlertRuleTest []struct {
			Alertname string `yaml:"alertname"`
			ExpAlerts []any  `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestEveryAlertHasRunbookAndTests: each alert's runbook_url points to a
// section of docs/runbook.md titled with the alert's name, and the unit
// tests show it both firing and not firing.
func TestEveryAlertHasRunbookAndTests(t *testing.T) {
	var rules ruleFile
	readYAML(t, "alerts.yaml", &rules)
	runbook, err := os.ReadFile("../docs/runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	headings := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^## (\S+)$`).FindAllStringSubmatch(string(runbook), -1) {
		headings[strings.ToLower(m[1])] = true
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	files, _ := filepath.Glob("tests/*.test.yaml")
	for _, f := range files {
		var u unitTests
		readYAML(t, f, &u)
		for _, tc := range u.Tests {
			for _, at := range tc.AlertRuleTest {
				if len(at.ExpAlerts) > 0 {
					fires[at.Alertname] = true
				} else {
					quiet[at.Alertname] = true
				}
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			anchor := strings.ToLower(r.Alert)
			if url := r.Annotations["runbook_url"]; !strings.HasSuffix(url, "docs/runbook.md#"+anchor) {
				t.Errorf("%s: runbook_url %q does not point to docs/runbook.md#%s", r.Alert, url, anchor)
			}
			if !headings[anchor] {
				t.Errorf("%s: docs/runbook.md has no section \"## %s\"", r.Alert, r.Alert)
			}
			if !fires[r.Alert] || !quiet[r.Alert] {
				t.Errorf("%s: unit tests show it firing %v, not firing %v; want both", r.Alert, fires[r.Alert], quiet[r.Alert])
			}
		}
	}
	if n == 0 {
		t.Fatal("alerts.yaml has no alerts")
	}
}
