package compiler

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// jobKey names the partial evaluation of policy pi for target t.
func jobKey(p *policy, pi int, t *target) string {
	if p.module == nil {
		return strconv.Itoa(pi)
	}
	return fmt.Sprintf("%d|%d|%s", pi, t.port, podKey(t.pod.ns, t.pod.labels))
}

type job struct {
	key, cacheKey string
	pi            int
	t             *target
	conjs         []*conj
	err           error
}

// runPartials partially evaluates every (policy, destination) the groups
// need, in parallel, reusing the cache; results carry this compilation's
// rule IDs. Each worker evaluates on its own compiler from newCompiler:
// partial evaluation's copy propagation rewrites terms of the compiled
// modules in place, so workers must not share them.
func runPartials(ctx context.Context, newCompiler func() (*ast.Compiler, error), env *dataEnv, nsData map[string]any, ps []*policy, groups []*group, rules map[ruleKey]RuleID, cache *Cache) (map[string][]*conj, error) {
	nsJSON, err := json.Marshal(nsData) // map keys are sorted: a stable hash
	if err != nil {
		return nil, fmt.Errorf("encoding namespaces: %w", err)
	}
	byKey := map[string]*job{}
	var jobs []*job
	for _, g := range groups {
		for _, pi := range g.policies {
			k := jobKey(ps[pi], pi, g.targets[0])
			if _, ok := byKey[k]; ok {
				continue
			}
			j := &job{key: k, pi: pi, t: g.targets[0]}
			dest := ""
			if ps[pi].module != nil {
				dest = k
			}
			j.cacheKey = cacheKey(ps[pi].raw, []byte(ps[pi].text), nsJSON, []byte(dest), env.fp)
			byKey[k] = j
			jobs = append(jobs, j)
		}
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].key < jobs[j].key })
	work := make(chan *job)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			comp, err := newCompiler()
			for j := range work {
				if err != nil {
					j.err = err
					continue
				}
				j.run(ctx, comp, env, nsData, ps, rules, cache)
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	out := make(map[string][]*conj, len(jobs))
	for _, j := range jobs {
		if j.err != nil {
			return nil, withPolicy(j.err, ps, []int{j.pi})
		}
		out[j.key] = j.conjs
	}
	return out, nil
}

func (j *job) run(ctx context.Context, comp *ast.Compiler, env *dataEnv, nsData map[string]any, ps []*policy, rules map[ruleKey]RuleID, cache *Cache) {
	cached, ok := cache.get(j.cacheKey)
	if !ok {
		t := j.t
		dest := map[string]any{"namespace": t.pod.ns, "labels": labelsAny(t.pod.labels), "port": int(t.port)}
		var v any
		if v, j.err = ps[j.pi].value(); j.err != nil {
			return
		}
		cached, j.err = partialEval(ctx, comp, env, nsData, []any{v}, dest, rules)
		if j.err != nil {
			return
		}
		cache.put(j.cacheKey, cached)
	}
	// Cached conjunctions are shared: copy them to set this compilation's
	// rule IDs.
	j.conjs = make([]*conj, len(cached))
	for i, c := range cached {
		cp := *c
		cp.rule = rules[c.key]
		j.conjs[i] = &cp
	}
}
