package promql

import (
	"slices"
	"testing"
)

func TestProbes(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{`axon_enforcing == 0`, []string{`axon_enforcing`}},
		{`sum by (namespace) (rate(a_total{decision="deny"}[5m])) > 1 and sum by (namespace) (rate(a_total{decision="deny"}[5m])) > 3 * sum by (namespace) (rate(a_total{decision="deny"}[1h] offset 5m))`,
			[]string{`sum(rate(a_total{decision="deny"}[5m])) by(namespace) and sum(rate(a_total{decision="deny"}[5m])) by(namespace)`, `a_total{decision="deny"}`}},
		{`(1 - sum by (w) (rate(b_bucket{le="0.5"}[1h])) / sum by (w) (rate(b_count[1h]))) > 14.4 * 0.01`,
			[]string{`1 - (sum(rate(b_bucket{le="0.5"}[1h])) by(w) / sum(rate(b_count[1h])) by(w))`, `b_bucket{le="0.5"}`, `b_count`}},
		{`x unless on (i) y`, []string{`x`, `y`}},
		{`label_join(sum by (a) (c), "id", "/", "a")`, []string{`label_join(sum(c) by(a), "id", "/", "a")`, `c`}},
	}
	for _, c := range cases {
		got, err := Probes(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Probes(%s)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

func TestSubstitute(t *testing.T) {
	got, err := Substitute(`rate(x{a=~"$ns", b="${wl}", c="[[p]]"}[$__rate_interval])`,
		map[string]string{"ns": "shop", "wl": "web", "p": "q", "__rate_interval": "1m"})
	if want := `rate(x{a=~"shop", b="web", c="q"}[1m])`; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
	if _, err := Substitute(`x{a="$unknown"}`, nil); err == nil {
		t.Error("an unknown variable was substituted")
	}
}

// TestLoad reads the committed dashboards and rules: every dashboard has
// panel queries and variables, every expression parses.
func TestLoad(t *testing.T) {
	es, err := Load("..")
	if err != nil {
		t.Fatal(err)
	}
	count := map[Kind]int{}
	for _, e := range es {
		count[e.Kind]++
		if e.Kind == Variable {
			continue
		}
		q, err := Substitute(e.Query, map[string]string{"namespace": "n", "policy": "p", "source": "s",
			"workload": "w", "instance": "i", "__rate_interval": "1m", "__range": "1h"})
		if err != nil {
			t.Errorf("%s: %v", e.Where, err)
			continue
		}
		if _, err := Probes(q); err != nil {
			t.Errorf("%s: %v", e.Where, err)
		}
	}
	if count[Panel] < 30 || count[Variable] < 5 || count[Alert] < 10 {
		t.Errorf("found %v panel queries, variables, alerts: fewer than the dashboards have", count)
	}
}
