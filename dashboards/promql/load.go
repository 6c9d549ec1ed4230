package promql

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Kind says where an expression comes from.
type Kind int

const (
	Panel    Kind = iota // a dashboard panel's query
	Variable             // a dashboard variable's label_values(selector, label)
	Alert                // an alerting rule's expr
)

// Expr is one expression and where it was found.
type Expr struct {
	Kind  Kind
	Where string // file and panel, variable or alert
	Query string // PromQL; for a Variable, the selector
	Label string // for a Variable, the label whose values are listed
}

// Load returns the expressions of every dashboard (*.json) and rule file
// (*.yaml) in dir, in file order.
func Load(dir string) ([]Expr, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var out []Expr
	for _, f := range files {
		var es []Expr
		switch filepath.Ext(f) {
		case ".json":
			es, err = loadDashboard(f)
		case ".yaml", ".yml":
			es, err = loadRules(f)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", filepath.Base(f), err)
		}
		out = append(out, es...)
	}
	return out, nil
}

type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"` // a collapsed row's panels
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
}

var labelValues = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

func loadDashboard(path string) ([]Expr, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	var out []Expr
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		m := labelValues.FindStringSubmatch(q)
		if m == nil {
			return nil, fmt.Errorf("variable %s: query %q is not label_values(selector, label)", v.Name, q)
		}
		out = append(out, Expr{Kind: Variable, Where: name + ": variable " + v.Name, Query: m[1], Label: m[2]})
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, Expr{Kind: Panel, Where: fmt.Sprintf("%s: panel %q query %s", name, p.Title, t.RefID), Query: t.Expr})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}

type rules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert  string `yaml:"alert"`
			Record string `yaml:"record"`
			Expr   string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func loadRules(path string) ([]Expr, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r rules
	if err := yaml.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	var out []Expr
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			name := rule.Alert + rule.Record
			out = append(out, Expr{Kind: Alert, Where: filepath.Base(path) + ": " + name, Query: rule.Expr})
		}
	}
	return out, nil
}
