package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/axon-dev/axon/agent/audit"
)

// Verdicts of the audit report.
const (
	verdictSafe   = "safe"   // no request would have been denied
	verdictUnsafe = "unsafe" // some request would have been denied
)

// auditPolicy is one Audit-mode policy in the report.
type auditPolicy struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Verdict   string    `json:"verdict"`
	ChangedAt time.Time `json:"changed_at"` // the latest agent's: when the policy as it is now was applied
	// AuditDenied counts would-be denials of the policy as it is now;
	// Before those of its earlier versions (not listed).
	AuditDenied uint64         `json:"audit_denied"`
	Before      uint64         `json:"audit_denied_before_change"`
	Denials     []audit.Series `json:"denials"` // count: since the change
}

// auditReport is `axon audit report -o json`.
type auditReport struct {
	Agents   []string      `json:"agents"`
	Since    time.Time     `json:"since"` // the earliest agent start
	Policies []auditPolicy `json:"policies"`
	// Unattributed are audit_deny requests no rule decided (not HTTP,
	// malformed) on endpoints only Audit-mode policies protect.
	Unattributed []audit.Series `json:"unattributed,omitempty"`
}

// auditCmd runs `axon audit report`.
func auditCmd(ctx context.Context, args []string, stdout io.Writer) (int, error) {
	if len(args) == 0 || args[0] != "report" {
		return 0, fmt.Errorf("%w: want axon audit report", errUsage)
	}
	fs := flag.NewFlagSet("axon audit report", flag.ContinueOnError)
	var agents agentList
	fs.Var(&agents, "agent", "agent URL (host:port of its --metrics-addr); repeatable")
	failUnsafe := fs.Bool("fail-unsafe", false, "exit 1 when some Audit-mode policy would deny traffic")
	var out outputFlags
	out.register(fs)
	if pos, err := parseArgs(fs, args[1:]); err != nil {
		return 0, err
	} else if len(pos) > 0 {
		return 0, fmt.Errorf("%w: audit report takes no arguments", errUsage)
	}
	if err := out.check(); err != nil {
		return 0, err
	}
	urls, err := agentsOf(ctx, agents)
	if err != nil {
		return 0, err
	}
	var reps []audit.Report
	for _, u := range urls {
		b, err := getAgent(ctx, u, "/v1/denials")
		if err != nil {
			return 0, err
		}
		var r audit.Report
		if err := json.Unmarshal(b, &r); err != nil {
			return 0, fmt.Errorf("agent %s: bad report: %w", u, err)
		}
		r.Agent = u
		reps = append(reps, r)
	}
	rep := mergeReports(reps)
	if out.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return 0, err
		}
	} else {
		printAudit(stdout, rep, out.colors(stdout))
	}
	if *failUnsafe {
		for _, p := range rep.Policies {
			if p.Verdict == verdictUnsafe {
				return exitFail, nil
			}
		}
	}
	return exitOK, nil
}

// mergeReports sums several agents' reports: counts add up, first_seen is
// the earliest and last_seen the latest.
func mergeReports(reps []audit.Report) auditReport {
	out := auditReport{Agents: []string{}, Policies: []auditPolicy{}}
	pols := map[[2]string]*auditPolicy{}
	series := map[audit.Key]*audit.Series{}
	for _, r := range reps {
		out.Agents = append(out.Agents, r.Agent)
		if out.Since.IsZero() || r.Since.Before(out.Since) {
			out.Since = r.Since
		}
		for _, p := range r.Policies {
			if p.Mode != "Audit" {
				continue
			}
			k := [2]string{p.Namespace, p.Name}
			if pols[k] == nil {
				pols[k] = &auditPolicy{Namespace: p.Namespace, Name: p.Name, Denials: []audit.Series{}}
			}
			if p.ChangedAt.After(pols[k].ChangedAt) {
				pols[k].ChangedAt = p.ChangedAt
			}
		}
		for _, s := range r.Denials {
			if s.Decision != "audit_deny" {
				continue
			}
			if p := pols[[2]string{s.Namespace, s.Policy}]; p != nil {
				p.AuditDenied += s.SinceChange
				p.Before += s.Count - s.SinceChange
			}
			if s.SinceChange == 0 {
				continue // only before the policy's last change
			}
			m := series[s.Key]
			if m == nil {
				c := s
				c.SourceIPs = nil
				series[s.Key], m = &c, &c
				m.Count = 0
			}
			m.Count += s.SinceChange
			if s.First.Before(m.First) {
				m.First = s.First
			}
			if s.Last.After(m.Last) {
				m.Last = s.Last
			}
			for _, ip := range s.SourceIPs {
				if len(m.SourceIPs) < 8 && !contains(m.SourceIPs, ip) {
					m.SourceIPs = append(m.SourceIPs, ip)
				}
			}
		}
	}
	for _, s := range series {
		if p := pols[[2]string{s.Namespace, s.Policy}]; p != nil {
			p.Denials = append(p.Denials, *s)
		} else if s.Policy == "" {
			out.Unattributed = append(out.Unattributed, *s)
		}
	}
	for _, p := range pols {
		sort.Slice(p.Denials, func(i, j int) bool {
			a, b := p.Denials[i], p.Denials[j]
			if a.Count != b.Count {
				return a.Count > b.Count
			}
			return sourceName(a)+a.Method+a.Route < sourceName(b)+b.Method+b.Route
		})
		p.Verdict = verdictSafe
		if p.AuditDenied > 0 {
			p.Verdict = verdictUnsafe
		}
		out.Policies = append(out.Policies, *p)
	}
	sort.Slice(out.Policies, func(i, j int) bool {
		a, b := out.Policies[i], out.Policies[j]
		return a.Namespace+"/"+a.Name < b.Namespace+"/"+b.Name
	})
	return out
}

func contains(set []string, v string) bool {
	for _, s := range set {
		if s == v {
			return true
		}
	}
	return false
}

// sourceName is namespace/workload, or the addresses of an unknown source.
func sourceName(s audit.Series) string {
	if s.SourceWorkload != "" {
		return s.SourceNamespace + "/" + s.SourceWorkload
	}
	if s.Method == audit.MethodOverflow && s.Route == audit.RouteOther && len(s.SourceIPs) == 0 {
		return "(overflow: any)"
	}
	if len(s.SourceIPs) > 0 {
		return "(outside) " + strings.Join(s.SourceIPs, ",")
	}
	return "(outside)"
}

func printAudit(w io.Writer, r auditReport, color bool) {
	fmt.Fprintf(w, "Audit report from %d agent(s), counting since %s\n", len(r.Agents), r.Since.Local().Format(time.DateTime))
	if len(r.Policies) == 0 {
		fmt.Fprintln(w, "\nNo Audit-mode policy is in force.")
	}
	for _, p := range r.Policies {
		fmt.Fprintf(w, "\n%s\n", paint(color, cBold, p.Namespace+"/"+p.Name+" (Audit)"))
		since := p.ChangedAt
		if since.Before(r.Since) {
			since = r.Since
		}
		if p.Before > 0 {
			fmt.Fprintf(w, "  (%d would-be denials of its earlier versions are left out: it changed at %s)\n",
				p.Before, p.ChangedAt.Local().Format(time.DateTime))
		}
		if p.Verdict == verdictSafe {
			fmt.Fprintf(w, "  %s: no request would have been denied since %s\n"+
				"  (only would-be denials are counted: check that its usual traffic ran meanwhile).\n",
				paint(color, cGreen, "SAFE TO ENFORCE"), since.Local().Format(time.DateTime))
			continue
		}
		fmt.Fprintf(w, "  %s: %d requests would have been denied since %s, from these sources and routes:\n",
			paint(color, cRed, "NOT SAFE TO ENFORCE"), p.AuditDenied, since.Local().Format(time.DateTime))
		printSeries(w, p.Denials)
	}
	if len(r.Unattributed) > 0 {
		fmt.Fprintf(w, "\n%s\n", paint(color, cBold, "Requests no rule decided (not HTTP, malformed) on Audit-only endpoints"))
		printSeries(w, r.Unattributed)
	}
}

func printSeries(w io.Writer, ss []audit.Series) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SOURCE\tMETHOD\tROUTE\tRULE\tCOUNT\tFIRST SEEN\tLAST SEEN")
	for _, s := range ss {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t%s\n", sourceName(s), s.Method, s.Route, s.Rule, s.Count,
			s.First.Local().Format(time.TimeOnly), s.Last.Local().Format(time.TimeOnly))
	}
	tw.Flush()
}
