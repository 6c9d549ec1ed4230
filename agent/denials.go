package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"time"

	"github.com/axon-dev/axon/agent/audit"
	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/source"
	"github.com/axon-dev/axon/policy/table"
)

// DenialSource is implemented by datapaths that tally denied requests
// exactly (agent/datapath).
type DenialSource interface {
	Denials() (datapath.Denials, error)
}

// denialPoll is how often the tallies are read between scrapes: the
// precision of a series' first_seen and last_seen.
const denialPoll = time.Second

// initAudit takes the datapath's tallies at start as zero.
func (a *Agent) initAudit() error {
	ds, ok := a.dp.(DenialSource)
	if !ok {
		return nil
	}
	d, err := ds.Denials()
	if err != nil {
		return fmt.Errorf("reading denial tallies: %w", err)
	}
	a.denials = ds
	a.tally.Prime(d)
	return nil
}

// refreshDenials adds what the tallies counted since the last refresh,
// labelled with the table in force (call it before switching tables).
func (a *Agent) refreshDenials() {
	if a.denials == nil {
		return
	}
	a.denialMu.Lock()
	defer a.denialMu.Unlock()
	d, err := a.denials.Denials()
	if err != nil {
		a.m.ReadErrors.Inc()
		return
	}
	a.tally.Add(d, a.resolver(a.Table()), time.Now())
}

// resolver labels tallies with table t and the pods last read.
func (a *Agent) resolver(t *table.Table) audit.Resolver {
	return audit.Resolver{
		Rule: func(rv datapath.RuleVerdict) audit.RuleInfo {
			k := labelKey{rule: "none", decision: decisionName(rv.Verdict)}
			if t != nil {
				k = labelsOf(t, rv)
			}
			return audit.RuleInfo{Namespace: k.namespace, Policy: k.policy, Rule: k.rule, Decision: k.decision}
		},
		Endpoint: func(id uint32) (netip.Addr, bool) { return endpointAddr(t, id) },
		Pods:     a.pods.Load(),
	}
}

// endpointAddr is the address of endpoint id in t.
func endpointAddr(t *table.Table, id uint32) (netip.Addr, bool) {
	if t == nil {
		return netip.Addr{}, false
	}
	eps := t.Endpoints
	i := sort.Search(len(eps), func(i int) bool { return eps[i].ID >= id })
	if i < len(eps) && eps[i].ID == id {
		return eps[i].Addr, true
	}
	return netip.Addr{}, false
}

// reloadPods rereads the pods and HTTPMonitors of the policy directory
// (after a table was applied: the same directory state, give or take a
// write in between). On error the previous pods stay. The directory is read
// through a decode cache: only files changed since the last read are decoded
// again (a full decode of 1,000 policies took seconds of CPU per reload),
// and the files the watcher read for the reload are not read again.
func (a *Agent) reloadPods() {
	var files map[string][]byte // as read by the watcher for this reload
	if d, ok := a.src.(*dirSource); ok {
		files = d.takeLoaded()
	}
	objects := a.cfg.Objects
	if objects == nil {
		objects = func(files map[string][]byte) (*source.Set, source.Problems, error) {
			return a.objFiles.LoadFiles(a.cfg.PolicyDir, files)
		}
	}
	x, err := audit.LoadIndex(func() (*source.Set, source.Problems, error) { return objects(files) })
	if err != nil {
		a.log.Warn("reading pods for denial labels; the previous ones stay", "error", err)
		return
	}
	a.pods.Store(x)
}

// pollDenials refreshes the tallies every denialPoll until done closes.
func (a *Agent) pollDenials(done <-chan struct{}) {
	t := time.NewTicker(denialPoll)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			a.refreshDenials()
		}
	}
}

// Report is the agent's audit report: the policies in force with their
// decision counts, and every denial series.
func (a *Agent) Report() audit.Report {
	a.refreshDenials()
	r := audit.Report{Since: a.started, Now: time.Now(), Denials: a.tally.Series(), Policies: []audit.Policy{}}
	t := a.Table()
	if t == nil {
		a.marks.apply(nil, r.Denials)
		return r
	}
	pol := map[[2]string]*audit.Policy{}
	var order [][2]string
	for _, rule := range t.Rules {
		k := [2]string{rule.Namespace, rule.Policy}
		if pol[k] == nil {
			pol[k] = &audit.Policy{Namespace: rule.Namespace, Name: rule.Policy, Mode: modeName(rule.Mode)}
			order = append(order, k)
		}
	}
	if a.ctr != nil {
		if ds, err := a.ctr.Decisions(); err == nil {
			for _, d := range ds {
				p := pol[[2]string{d.Namespace, d.Policy}]
				if p == nil {
					continue
				}
				switch d.Decision {
				case "allow":
					p.Allowed += d.Count
				case "deny":
					p.Denied += d.Count
				case "audit_deny":
					p.AuditDenied += d.Count
				}
			}
		}
	}
	sort.Slice(order, func(i, j int) bool {
		return order[i][0]+"/"+order[i][1] < order[j][0]+"/"+order[j][1]
	})
	for _, k := range order {
		r.Policies = append(r.Policies, *pol[k])
	}
	a.marks.apply(r.Policies, r.Denials)
	return r
}

// serveReport answers GET /v1/denials.
func (a *Agent) serveReport(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(a.Report())
}
