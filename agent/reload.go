package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/axon-dev/axon/policy/table"
	"github.com/prometheus/client_golang/prometheus"
)

// reload loads, compiles and applies the policy directory. On any error the
// table in force stays, and the error is logged and counted. When only
// writing into the maps failed, it returns the compiled table to retry.
func (a *Agent) reload(fp string) *pendingTable {
	start := time.Now()
	clk := newStageClock(start)
	clk.seenBefore(a.src, fp, start)
	t, warnings, err := a.src.Load(fp, a.Table())
	clk.mark("load_compile")
	for _, w := range warnings {
		a.log.Warn("policy warning", "problem", w)
	}
	if err != nil {
		stage, files := "source", 1
		var le *LoadError
		if errors.As(err, &le) {
			stage = le.Stage
			files = max(len(le.Files), 1)
			for _, p := range le.Problems {
				a.log.Error("policy problem", "stage", le.Stage, "problem", p)
			}
		}
		a.m.LoadErrors.WithLabelValues(stage).Inc()
		a.m.LoadOK.Set(0)
		a.m.BrokenFiles.Set(float64(files))
		_, attrs := a.src.Describe()
		a.logLoadFailure("policy load failed", append(attrs, "error", err)...)
		if a.node != nil {
			a.node.Result(nil, err)
		}
		return nil
	}
	a.m.BrokenFiles.Set(0)
	p := &pendingTable{t: t, fp: fp}
	if err := a.apply(p, start, clk); err != nil {
		return p
	}
	return nil
}

// pendingTable is a compiled table not yet in the maps.
type pendingTable struct {
	t  *table.Table
	fp string // fingerprint of the directory it was compiled from
}

// apply writes p into the maps and makes it the table in force; start is
// when its reload began, clk (may be nil) times its stages. A failure is
// counted and logged, each time.
func (a *Agent) apply(p *pendingTable, start time.Time, clk *stageClock) error {
	t, fp := p.t, p.fp
	// The pods behind the interfaces are recorded for t's pod IPs before t
	// is in force, so that no packet is decided by t while a pod of t can
	// still send as another. With the same pod IPs as the table in force
	// the records already fit t.
	podsFirst := !samePodIPs(a.Table(), t)
	if podsFirst {
		a.syncPodInterfaces(a.interfaces(), t)
		clk.mark("pods_first")
	}
	ustart := time.Now()
	a.flipMu.Lock() // an attach and its sweep of unpoliced flows see one table
	err := a.dp.Apply(t)
	a.flipMu.Unlock()
	if err != nil {
		a.m.LoadErrors.WithLabelValues("apply").Inc()
		a.m.LoadOK.Set(0)
		a.logLoadFailure("writing policy into maps failed; retrying", "error", err)
		if a.node != nil {
			a.node.Result(t, fmt.Errorf("writing policy into maps: %w", err))
		}
		return err
	}
	a.m.MapUpdate.Observe(time.Since(ustart).Seconds())
	flipped := time.Now()
	clk.mark("map_write_flip")
	// With the same pod IPs the records written for the table in force
	// fit t: no netlink dump of every veth per policy change. A veth that
	// came or went meanwhile is recorded by keepAttached's check.
	a.refreshDenials() // what the previous table counted, with its labels
	clk.mark("denials")
	a.marks.update(t, a.tally.Series(), time.Now())
	clk.mark("marks")
	if err := a.ctr.switchTable(t); err != nil {
		a.log.Error("reading counters after the update; per-rule counts may be misattributed", "error", err)
	}
	clk.mark("counters")
	a.m.LoadOK.Set(1)
	a.mu.Lock()
	a.applied, a.table, a.lastFP = true, t, fp
	a.generation++
	gen := a.generation
	a.mu.Unlock()
	a.m.Generation.Set(float64(gen))
	a.reloadPods()
	clk.mark("pod_labels")
	setRows(a.m.TableRows, t)
	a.updateEnforcing()
	if a.node != nil {
		a.node.Result(t, nil)
	}
	clk.mark("rest")
	a.log.Info("policy applied", "generation", gen, "rules", len(t.Rules), "endpoints", len(t.Endpoints),
		"path_rows", len(t.Paths), "duration", time.Since(start).String())
	a.log.Debug("policy apply stages", "generation", gen, "to_map_write", ustart.Sub(start).String(),
		"map_write", flipped.Sub(ustart).String(), "after_flip", time.Since(flipped).String(), "pods_first", podsFirst)
	if clk != nil {
		a.log.Debug("policy reload stages", append([]any{"generation", gen}, clk.attrs...)...)
	}
	return nil
}

// samePodIPs says whether tables a and b hold the same pod addresses.
func samePodIPs(a, b *table.Table) bool {
	if a == nil || b == nil || len(a.PodIPs) != len(b.PodIPs) {
		return false
	}
	addrs := make(map[netip.Addr]int, len(a.PodIPs))
	for _, p := range a.PodIPs {
		addrs[p.Addr]++
	}
	for _, p := range b.PodIPs {
		if addrs[p.Addr] == 0 {
			return false
		}
		addrs[p.Addr]--
	}
	return true
}

// logLoadFailure logs a policy set that could not be applied, saying in the
// in_force attribute what is enforced instead: the last set this agent
// applied (last_applied, with generation_in_force), the set an earlier agent
// pinned (pinned), or nothing at all (none).
func (a *Agent) logLoadFailure(msg string, attrs ...any) {
	gen := a.generationNow()
	switch {
	case gen > 0:
		attrs = append(attrs, "in_force", "last_applied", "generation_in_force", gen)
	case a.dp.PinnedPolicy():
		attrs = append(attrs, "in_force", "pinned")
	default:
		attrs = append(attrs, "in_force", "none")
	}
	a.log.Error(msg, attrs...)
}

func setRows(g *prometheus.GaugeVec, t *table.Table) {
	g.WithLabelValues("rules").Set(float64(len(t.Rules)))
	g.WithLabelValues("identities").Set(float64(len(t.Identities)))
	g.WithLabelValues("pod_ips").Set(float64(len(t.PodIPs)))
	g.WithLabelValues("cidrs").Set(float64(len(t.CIDRs)))
	g.WithLabelValues("methods").Set(float64(len(t.Methods)))
	g.WithLabelValues("endpoints").Set(float64(len(t.Endpoints)))
	g.WithLabelValues("source_classes").Set(float64(len(t.Classes)))
	g.WithLabelValues("path_rows").Set(float64(len(t.Paths)))
}
