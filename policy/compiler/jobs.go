package compiler

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"sync"

	"github.com/axon-dev/axon/policy/table"
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
	parts         []*part // a batch of parts instead of a policy
}

// partBatch is how many rule parts one partial evaluation takes.
const partBatch = 128

// l7Job is an L7NetworkPolicy evaluated by rule part.
type l7Job struct {
	key, cacheKey string
	pi            int
	parts         ruleParts
}

// compilerPool hands out compilers of the library with the policies'
// modules (get), and takes back those a worker is done with (put).
type compilerPool struct {
	get func() (*ast.Compiler, error)
	put func(*ast.Compiler)
}

// runPartials partially evaluates every (policy, destination) the groups
// need, in parallel, reusing the cache; results carry this compilation's
// rule IDs. Each worker evaluates on its own compiler, taken from compilers
// when it gets its first job: partial evaluation's copy propagation
// rewrites terms of the compiled modules in place, so workers must not
// share them. A worker whose jobs all succeeded gives its compiler back.
func runPartials(ctx context.Context, compilers compilerPool, env *dataEnv, nsData map[string]any, ps []*policy, groups []*group, rules map[ruleKey]table.RuleID, cache *Cache) (map[string][]*conj, error) {
	nsJSON, err := json.Marshal(nsData) // map keys are sorted: a stable hash
	if err != nil {
		return nil, fmt.Errorf("encoding namespaces: %w", err)
	}
	// What every policy's evaluation depends on besides the policy, hashed
	// once: hashing it per policy was most of a recompile's key work.
	envSum := []byte(cacheKey([]byte("env"), nsJSON, env.fp))
	var jobs []*job
	byPart := map[string]*part{}
	var parts []*part
	var l7s []l7Job
	seen := map[string]bool{}
	for _, g := range groups {
		for _, pi := range g.policies {
			k := jobKey(ps[pi], pi, g.targets[0])
			if seen[k] {
				continue
			}
			seen[k] = true
			j := &job{key: k, pi: pi, t: g.targets[0]}
			dest := ""
			if ps[pi].module != nil {
				dest = k
			}
			j.cacheKey = cacheKey(ps[pi].rawSum(), []byte(ps[pi].text), envSum, []byte(dest))
			if _, cached := cache.get(j.cacheKey); !cached && ps[pi].module == nil && libraryHasParts() {
				rp, err := splitRules(ps, pi, byPart, &parts)
				if err != nil {
					return nil, err
				}
				l7s = append(l7s, l7Job{key: k, cacheKey: j.cacheKey, pi: pi, parts: rp})
				continue
			}
			jobs = append(jobs, j)
		}
	}
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].key < jobs[j].key })
	jobs = append(jobs, partJobs(parts, nsJSON, env, cache)...)
	work := make(chan *job)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var comp *ast.Compiler
			var err error
			failed := false
			for j := range work {
				if comp == nil && err == nil {
					comp, err = compilers.get()
				}
				if err != nil {
					j.err = err
					for _, pt := range j.parts {
						pt.err = err
					}
					continue
				}
				j.run(ctx, comp, env, nsData, ps, rules, cache)
				failed = failed || j.failed()
			}
			if comp != nil && !failed {
				compilers.put(comp)
			}
		}()
	}
	for _, j := range jobs {
		work <- j
	}
	close(work)
	wg.Wait()
	out := make(map[string][]*conj, len(jobs)+len(l7s))
	for _, j := range jobs {
		if j.parts != nil {
			continue
		}
		if j.err != nil {
			return nil, withPolicy(j.err, ps, []int{j.pi})
		}
		out[j.key] = j.conjs
	}
	for _, l := range l7s {
		conjs, err := l.join(ps, rules)
		if err != nil {
			return nil, withPolicy(err, ps, []int{l.pi})
		}
		cache.put(l.cacheKey, conjs)
		out[l.key] = conjs
	}
	return out, nil
}

// partJobs takes the parts' residuals from the cache and batches the others
// by kind into jobs.
func partJobs(parts []*part, nsJSON []byte, env *dataEnv, cache *Cache) []*job {
	var jobs []*job
	var pending [2][]*part
	for _, pt := range parts {
		pt.cacheKey = cacheKey([]byte("part"), []byte(pt.key), nsJSON, env.fp)
		if cached, ok := cache.get(pt.cacheKey); ok {
			pt.bodies = cached
			continue
		}
		pending[pt.kind] = append(pending[pt.kind], pt)
	}
	for _, ps := range pending {
		for len(ps) > 0 {
			n := min(len(ps), partBatch)
			jobs = append(jobs, &job{parts: ps[:n:n]})
			ps = ps[n:]
		}
	}
	return jobs
}

// join makes the policy's residual queries from its rules' parts, with this
// compilation's rule IDs.
func (l *l7Job) join(ps []*policy, rules map[ruleKey]table.RuleID) ([]*conj, error) {
	p := ps[l.pi]
	var out []*conj
	for i, rp := range l.parts {
		f, h := rp[partFrom], rp[partHTTP]
		for _, pt := range rp {
			if pt.err != nil {
				return nil, pt.err
			}
		}
		key := ruleKey{p.p.Namespace, p.p.Name, i}
		id, ok := rules[key]
		if !ok {
			return nil, fmt.Errorf("policy %s: no ID for rule %d", p.key, i)
		}
		for _, fb := range f.bodies {
			for _, hb := range h.bodies {
				c := joinParts(fb, hb, key)
				c.rule = id
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// failed says whether the job or any of its parts ended in an error.
func (j *job) failed() bool {
	if j.err != nil {
		return true
	}
	for _, pt := range j.parts {
		if pt.err != nil {
			return true
		}
	}
	return false
}

func (j *job) run(ctx context.Context, comp *ast.Compiler, env *dataEnv, nsData map[string]any, ps []*policy, rules map[ruleKey]table.RuleID, cache *Cache) {
	if j.parts != nil {
		evalParts(ctx, comp, env, nsData, j.parts)
		for _, pt := range j.parts {
			if pt.err == nil {
				cache.put(pt.cacheKey, pt.bodies)
			}
		}
		return
	}
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
