package agent

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/axon-dev/axon/agent/audit"
	"github.com/axon-dev/axon/policy/compiler"
)

// policyMarks remembers, per policy, when the agent applied it as it is
// now and what its denial series had counted by then, so that a report can
// tell what the policy as it is now would deny from what an earlier
// version did (the series are cumulative).
type policyMarks struct {
	mu    sync.Mutex
	marks map[[2]string]policyMark
}

type policyMark struct {
	sig     string // the policy's rules as compiled: index, action, mode, origin
	changed time.Time
	base    map[audit.Key]uint64 // series counts when it changed
}

// signatures describes each policy of t by its rules.
func signatures(t *compiler.Table) map[[2]string]string {
	var b = map[[2]string]*strings.Builder{}
	for _, r := range t.Rules {
		k := [2]string{r.Namespace, r.Policy}
		if b[k] == nil {
			b[k] = &strings.Builder{}
		}
		fmt.Fprintf(b[k], "%d %d %d %s;", r.Index, r.Action, r.Mode, r.Origin)
	}
	out := make(map[[2]string]string, len(b))
	for k, v := range b {
		out[k] = v.String()
	}
	return out
}

// update records the policies of t, applied at now; series are the tally's
// series at that time.
func (m *policyMarks) update(t *compiler.Table, series []audit.Series, now time.Time) {
	sigs := signatures(t)
	m.mu.Lock()
	defer m.mu.Unlock()
	next := make(map[[2]string]policyMark, len(sigs))
	for k, sig := range sigs {
		if old, ok := m.marks[k]; ok && old.sig == sig {
			next[k] = old
			continue
		}
		mk := policyMark{sig: sig, changed: now, base: map[audit.Key]uint64{}}
		for _, s := range series {
			if s.Namespace == k[0] && s.Policy == k[1] {
				mk.base[s.Key] = s.Count
			}
		}
		next[k] = mk
	}
	m.marks = next
}

// apply sets ChangedAt of the policies and SinceChange of the series.
func (m *policyMarks) apply(pols []audit.Policy, series []audit.Series) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range pols {
		pols[i].ChangedAt = m.marks[[2]string{pols[i].Namespace, pols[i].Name}].changed
	}
	for i := range series {
		s := &series[i]
		s.SinceChange = s.Count
		if mk, ok := m.marks[[2]string{s.Namespace, s.Policy}]; ok && s.Count >= mk.base[s.Key] {
			s.SinceChange = s.Count - mk.base[s.Key]
		}
	}
}
