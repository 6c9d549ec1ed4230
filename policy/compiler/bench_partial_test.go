package compiler

import (
	"context"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// BenchmarkPartialEvalOnePolicy partially evaluates one 10-rule policy of the
// compile benchmark: the unit of work a changed policy costs.
func BenchmarkPartialEvalOnePolicy(b *testing.B) {
	in := benchInput()
	ps, rules, _ := preparePolicies(in, nil)
	pods, _ := knownPods(in)
	nsData := map[string]any{}
	for n, l := range namespaceLabels(in, pods, ps) {
		nsData[n] = labelsAny(l)
	}
	comp, _ := libraryCompiler(ps)
	ruleIDs := map[ruleKey]table.RuleID{}
	for _, r := range rules {
		ruleIDs[ruleKey{r.Namespace, r.Policy, r.Index}] = r.ID
	}
	ts := targets(pods, ps)
	t := ts[0]
	p := ps[t.policies[0]]
	dest := map[string]any{"namespace": t.pod.ns, "labels": labelsAny(t.pod.labels), "port": int(t.port)}
	n := 0
	for b.Loop() {
		cs, err := partialEval(context.Background(), comp, nil, nsData, []any{mustValue(p)}, dest, ruleIDs)
		if err != nil {
			b.Fatal(err)
		}
		n = len(cs)
	}
	b.ReportMetric(float64(n), "queries")
}

func mustValue(p *policy) any {
	v, err := p.value()
	if err != nil {
		panic(err)
	}
	return v
}
