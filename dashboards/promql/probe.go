package promql

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/VictoriaMetrics/metricsql"
)

var variable = regexp.MustCompile(`\$\{(\w+)\}|\[\[(\w+)\]\]|\$(\w+)`)

// Substitute replaces Grafana's template variables ($name, ${name},
// [[name]]) with vars, as Grafana does before it sends a query; a variable
// missing from vars is an error, so a new variable cannot go untested.
func Substitute(q string, vars map[string]string) (string, error) {
	var missing []string
	out := variable.ReplaceAllStringFunc(q, func(m string) string {
		s := variable.FindStringSubmatch(m)
		name := s[1] + s[2] + s[3]
		v, ok := vars[name]
		if !ok {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("no value for variable(s) %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// Probes returns the queries that must each return data: the expression
// with its comparisons removed (alert thresholds: what an alert compares is
// there even while it does not fire) and each series selector in it.
func Probes(q string) ([]string, error) {
	e, err := metricsql.Parse(q)
	if err != nil {
		return nil, fmt.Errorf("parsing %q: %w", q, err)
	}
	out := []string{string(strip(e).AppendString(nil))}
	metricsql.VisitAll(e, func(x metricsql.Expr) {
		if m, ok := x.(*metricsql.MetricExpr); ok {
			if s := string(m.AppendString(nil)); !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	})
	return out, nil
}

// strip removes comparisons (keeping the side that is not a number, else
// the left), and the right side of unless, so that the result is what was
// compared rather than the (usually empty) outcome.
func strip(e metricsql.Expr) metricsql.Expr {
	switch x := e.(type) {
	case *metricsql.BinaryOpExpr:
		switch {
		case metricsql.IsBinaryOpCmp(x.Op) && !x.Bool:
			if _, ok := x.Left.(*metricsql.NumberExpr); ok {
				return strip(x.Right)
			}
			return strip(x.Left)
		case strings.EqualFold(x.Op, "unless"):
			return strip(x.Left)
		}
		c := *x
		c.Left, c.Right = strip(x.Left), strip(x.Right)
		return &c
	case *metricsql.FuncExpr:
		c := *x
		c.Args = stripAll(x.Args)
		return &c
	case *metricsql.AggrFuncExpr:
		c := *x
		c.Args = stripAll(x.Args)
		return &c
	case *metricsql.RollupExpr:
		c := *x
		c.Expr = strip(x.Expr)
		return &c
	}
	return e
}

func stripAll(es []metricsql.Expr) []metricsql.Expr {
	out := make([]metricsql.Expr, len(es))
	for i, e := range es {
		out[i] = strip(e)
	}
	return out
}
