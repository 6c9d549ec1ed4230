package main

import (
	"bytes"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// topSample is what axon top reads from the agents' metrics at one time,
// summed over the agents.
type topSample struct {
	at        time.Time
	decisions map[string]map[string]float64 // namespace/policy -> decision -> count
	red       map[string]*redSample         // namespace/workload -> server-side requests
	denied    map[deniedKey]float64
}

type redSample struct {
	count, errors float64
	buckets       map[float64]float64 // upper bound -> cumulative count
}

type deniedKey struct {
	Policy, Decision, Source, Method, Route string
}

func newTopSample() *topSample {
	return &topSample{at: time.Now(), decisions: map[string]map[string]float64{},
		red: map[string]*redSample{}, denied: map[deniedKey]float64{}}
}

// add adds one agent's /metrics page.
func (s *topSample) add(page []byte) error {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(page))
	if err != nil {
		return fmt.Errorf("parsing metrics: %w", err)
	}
	for _, m := range fams["axon_policy_decisions_total"].GetMetric() {
		l := labelMap(m.GetLabel())
		k := l["namespace"] + "/" + l["policy"]
		if l["policy"] == "" {
			k = "(no rule)"
		}
		if s.decisions[k] == nil {
			s.decisions[k] = map[string]float64{}
		}
		s.decisions[k][l["decision"]] += m.GetCounter().GetValue()
	}
	for _, m := range fams["http_server_request_duration_seconds"].GetMetric() {
		l := labelMap(m.GetLabel())
		k := l["namespace"] + "/" + l["workload"]
		r := s.red[k]
		if r == nil {
			r = &redSample{buckets: map[float64]float64{}}
			s.red[k] = r
		}
		h := m.GetHistogram()
		n := float64(h.GetSampleCount())
		r.count += n
		if code, _ := strconv.Atoi(l["status_code"]); code >= 500 {
			r.errors += n
		}
		for _, b := range h.GetBucket() {
			r.buckets[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
		r.buckets[math.Inf(1)] += n
	}
	for _, m := range fams["axon_policy_denied_requests_total"].GetMetric() {
		l := labelMap(m.GetLabel())
		src := l["source_namespace"] + "/" + l["source_workload"]
		if l["source_workload"] == "" {
			src = "(outside)"
		}
		k := deniedKey{Policy: l["namespace"] + "/" + l["policy"], Decision: l["decision"], Source: src,
			Method: l["method"], Route: l["route"]}
		s.denied[k] += m.GetCounter().GetValue()
	}
	return nil
}

// topFrame is one refresh of axon top (also its -o json output). Rates are
// per second over the last interval; nil before the second refresh.
type topFrame struct {
	Time      time.Time     `json:"time"`
	Decisions []decisionRow `json:"decisions"`
	Workloads []redRow      `json:"workloads"`
	Denied    []deniedRow   `json:"top_denied"`
	Errors    []string      `json:"errors,omitempty"`
}

type decisionRow struct {
	Policy    string   `json:"policy"`
	Allow     *float64 `json:"allow_per_s"`
	Deny      *float64 `json:"deny_per_s"`
	AuditDeny *float64 `json:"audit_deny_per_s"`
	Total     float64  `json:"total"`
}

type redRow struct {
	Workload   string   `json:"workload"`
	Rate       *float64 `json:"requests_per_s"`
	ErrorRatio *float64 `json:"error_ratio"`
	P50        *float64 `json:"p50_seconds"`
	P99        *float64 `json:"p99_seconds"`
	Total      float64  `json:"total"`
}

type deniedRow struct {
	deniedKey
	Rate  *float64 `json:"per_s"`
	Total float64  `json:"total"`
}

func rate(cur, prev float64, dt float64, have bool) *float64 {
	if !have || dt <= 0 {
		return nil
	}
	v := (cur - prev) / dt
	if v < 0 {
		v = cur / dt // counter reset
	}
	return &v
}

// frameOf computes the frame of cur against prev (nil: totals only).
func frameOf(prev, cur *topSample, rows int) topFrame {
	f := topFrame{Time: cur.at, Decisions: []decisionRow{}, Workloads: []redRow{}, Denied: []deniedRow{}}
	dt := 0.0
	if prev != nil {
		dt = cur.at.Sub(prev.at).Seconds()
	}
	for k, d := range cur.decisions {
		var p map[string]float64
		if prev != nil {
			p = prev.decisions[k]
		}
		have := prev != nil
		f.Decisions = append(f.Decisions, decisionRow{Policy: k,
			Allow: rate(d["allow"], p["allow"], dt, have), Deny: rate(d["deny"], p["deny"], dt, have),
			AuditDeny: rate(d["audit_deny"], p["audit_deny"], dt, have),
			Total:     d["allow"] + d["deny"] + d["audit_deny"]})
	}
	sort.Slice(f.Decisions, func(i, j int) bool { return f.Decisions[i].Policy < f.Decisions[j].Policy })
	for k, r := range cur.red {
		row := redRow{Workload: k, Total: r.count}
		var p *redSample
		if prev != nil {
			p = prev.red[k]
			if p == nil {
				p = &redSample{buckets: map[float64]float64{}}
			}
		}
		if p != nil && dt > 0 {
			row.Rate = rate(r.count, p.count, dt, true)
			if n := r.count - p.count; n > 0 {
				e := (r.errors - p.errors) / n
				row.ErrorRatio = &e
				row.P50 = quantile(0.5, r.buckets, p.buckets)
				row.P99 = quantile(0.99, r.buckets, p.buckets)
			}
		}
		f.Workloads = append(f.Workloads, row)
	}
	sort.Slice(f.Workloads, func(i, j int) bool { return f.Workloads[i].Workload < f.Workloads[j].Workload })
	for k, v := range cur.denied {
		var pv float64
		if prev != nil {
			pv = prev.denied[k]
		}
		f.Denied = append(f.Denied, deniedRow{deniedKey: k, Rate: rate(v, pv, dt, prev != nil), Total: v})
	}
	sort.Slice(f.Denied, func(i, j int) bool {
		a, b := f.Denied[i], f.Denied[j]
		ar, br := val(a.Rate), val(b.Rate)
		if ar != br {
			return ar > br
		}
		if a.Total != b.Total {
			return a.Total > b.Total
		}
		return fmt.Sprint(a.deniedKey) < fmt.Sprint(b.deniedKey)
	})
	if len(f.Denied) > rows {
		f.Denied = f.Denied[:rows]
	}
	return f
}

func val(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

// quantile estimates the q-quantile of the observations between two
// cumulative bucket sets, interpolating linearly inside the bucket as
// PromQL's histogram_quantile does.
func quantile(q float64, cur, prev map[float64]float64) *float64 {
	var bounds []float64
	for b := range cur {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return nil
	}
	total := cur[math.Inf(1)] - prev[math.Inf(1)]
	if total <= 0 {
		return nil
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for _, b := range bounds {
		c := cur[b] - prev[b]
		if c >= rank {
			if math.IsInf(b, 1) {
				return &lower // beyond the last bound: its value is the best known
			}
			v := lower + (b-lower)*(rank-below)/math.Max(c-below, 1e-12)
			return &v
		}
		lower, below = b, c
	}
	return nil
}

func labelMap(ls []*dto.LabelPair) map[string]string {
	out := map[string]string{}
	for _, l := range ls {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// renderTop draws a frame as text.
func renderTop(f topFrame, agents int, every time.Duration, color bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %d agent(s), every %v, %s   (q or Ctrl-C quits)\n", paint(color, cBold, "axon top"), agents, every, f.Time.Local().Format(time.TimeOnly))
	for _, e := range f.Errors {
		fmt.Fprintln(&b, paint(color, cRed, "error: "+e))
	}
	fmt.Fprintf(&b, "\n%s\n", paint(color, cBold, fmt.Sprintf("%-40s %10s %10s %13s %10s", "DECISIONS (policy)", "ALLOW/s", "DENY/s", "AUDIT_DENY/s", "TOTAL")))
	for _, d := range f.Decisions {
		fmt.Fprintf(&b, "%-40s %10s %s %s %10.0f\n", clip(d.Policy, 40), num(d.Allow, "%.1f"),
			paint(color && val(d.Deny) > 0, cRed, fmt.Sprintf("%10s", num(d.Deny, "%.1f"))),
			paint(color && val(d.AuditDeny) > 0, cYellow, fmt.Sprintf("%13s", num(d.AuditDeny, "%.1f"))), d.Total)
	}
	fmt.Fprintf(&b, "\n%s\n", paint(color, cBold, fmt.Sprintf("%-40s %10s %10s %10s %10s %10s", "WORKLOADS (served, HTTPMonitor)", "REQ/s", "ERRORS", "P50", "P99", "TOTAL")))
	if len(f.Workloads) == 0 {
		fmt.Fprintln(&b, paint(color, cDim, "(no monitored workload has served a request)"))
	}
	for _, w := range f.Workloads {
		errs := "-"
		if w.ErrorRatio != nil {
			errs = fmt.Sprintf("%.1f%%", *w.ErrorRatio*100)
		}
		fmt.Fprintf(&b, "%-40s %10s %s %10s %10s %10.0f\n", clip(w.Workload, 40), num(w.Rate, "%.1f"),
			paint(color && val(w.ErrorRatio) > 0, cRed, fmt.Sprintf("%10s", errs)), dur(w.P50), dur(w.P99), w.Total)
	}
	fmt.Fprintf(&b, "\n%s\n", paint(color, cBold, fmt.Sprintf("%-64s %-10s %8s %8s", "TOP DENIED (source -> method route, policy)", "DECISION", "/s", "TOTAL")))
	if len(f.Denied) == 0 {
		fmt.Fprintln(&b, paint(color, cDim, "(nothing denied)"))
	}
	for _, d := range f.Denied {
		what := fmt.Sprintf("%s -> %s %s, %s", d.Source, d.Method, d.Route, d.Policy)
		c := cRed
		if d.Decision == "audit_deny" {
			c = cYellow
		}
		fmt.Fprintf(&b, "%-64s %s %8s %8.0f\n", clip(what, 64), paint(color, c, fmt.Sprintf("%-10s", d.Decision)), num(d.Rate, "%.1f"), d.Total)
	}
	return b.String()
}

func num(p *float64, format string) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprintf(format, *p)
}

func dur(p *float64) string {
	if p == nil {
		return "-"
	}
	return time.Duration(*p * float64(time.Second)).Round(10 * time.Microsecond).String()
}
