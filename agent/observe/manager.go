package observe

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/axon-dev/axon/policy/source"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRefresh is how often the manager rereads the policy directory and
// looks for the monitored pods' network namespaces.
const DefaultRefresh = 2 * time.Second

// Manager runs the observer for an agent in standalone mode: it reads the
// HTTPMonitors and Pods of the policy directory, finds the network
// namespaces of the monitored pods, writes them into the kernel and keeps
// the programs attached only while some pod is monitored (so a node with no
// HTTPMonitor pays nothing). A directory with errors keeps the previous
// monitors in force.
type Manager struct {
	load    func() (*source.Set, source.Problems, error)
	log     *slog.Logger
	refresh time.Duration
	prog    *Programs
	table   PodTable
	coll    *Collector
	netns   *netnsFinder

	mu           sync.Mutex
	pods         []Pod // from the last good load
	good         bool
	lastProblems string
}

// NewManager loads the observer programs for hooks (not attached yet).
func NewManager(policyDir string, hooks Hooks, log *slog.Logger) (*Manager, error) {
	return NewManagerFrom(func() (*source.Set, source.Problems, error) { return source.Load(policyDir) }, hooks, log)
}

// NewManagerFrom is NewManager reading its HTTPMonitors and Pods with load
// (in cluster mode, from the API server's objects) instead of a directory.
func NewManagerFrom(load func() (*source.Set, source.Problems, error), hooks Hooks, log *slog.Logger) (*Manager, error) {
	p, err := Load(hooks)
	if err != nil {
		return nil, err
	}
	attrs := []any{"hooks", string(p.Hooks())}
	if why := p.Fallback(); why != nil {
		attrs = append(attrs, "tcp_hooks_unavailable", why.Error())
	}
	log.Info("http observer loaded", attrs...)
	m := &Manager{load: load, log: log, refresh: DefaultRefresh, prog: p, netns: newNetnsFinder()}
	m.coll = NewCollector(&m.table, p.Stats)
	return m, nil
}

// OnExchange makes the observer call fn with every exchange of a monitored
// pod; fn must not block. Call it before Run.
func (m *Manager) OnExchange(fn func(Workload, Exchange)) { m.coll.OnExchange(fn) }

// Collector is the metrics collector to register on the agent's registry.
func (m *Manager) Collector() prometheus.Collector { return m.coll }

// Run follows the directory and reads events until ctx ends, then detaches
// and unloads the programs.
func (m *Manager) Run(ctx context.Context) error {
	defer m.prog.Close()
	done := make(chan error, 1)
	go func() { done <- Run(ctx, m.prog, NewPairer(m.coll)) }()
	t := time.NewTicker(m.refresh)
	defer t.Stop()
	for {
		if err := m.Sync(); err != nil {
			m.log.Error("http observer", "error", err)
		}
		select {
		case <-ctx.Done():
			return <-done
		case err := <-done:
			return err
		case <-t.C:
		}
	}
}

// Sync rereads the directory and the namespaces once.
func (m *Manager) Sync() error {
	set, probs, err := m.load()
	m.mu.Lock()
	switch {
	case err != nil:
		m.log.Warn("http observer: policy directory unreadable, the previous monitors stay", "error", err)
	case len(probs.Errors()) > 0:
		if msg := fmt.Sprint(probs.Errors()); msg != m.lastProblems {
			m.lastProblems = msg
			m.log.Warn("http observer: policy directory has errors, the previous monitors stay", "problems", fmt.Sprint(probs.Errors()))
		}
		m.good = false
	default:
		m.pods = PodsOf(set.Pods, set.Monitors)
		m.good = true
		m.lastProblems = ""
	}
	pods := m.pods
	m.mu.Unlock()

	var ips []netip.Addr
	for _, p := range pods {
		if p.Monitored {
			ips = append(ips, p.IPs...)
		}
	}
	where, _, err := m.netns.find(ips)
	if err != nil {
		return err
	}
	mon := m.table.Set(pods, where)
	if err := m.prog.SetNetns(mon); err != nil {
		return err
	}
	switch {
	case len(mon) > 0 && !m.prog.Attached():
		if err := m.prog.Attach(); err != nil {
			return err
		}
		m.log.Info("http observer attached", "namespaces", len(mon))
	case len(mon) == 0 && m.prog.Attached():
		m.prog.Detach()
		m.log.Info("http observer detached: no monitored pod on this node")
	}
	return nil
}
