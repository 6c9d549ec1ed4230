package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/axon-dev/axon/agent"
	"github.com/axon-dev/axon/agent/observe"
	"github.com/axon-dev/axon/policy/source"
)

// startObserver runs the socket-level HTTP observer beside the agent: its
// metrics join the agent's /metrics. It attaches nothing until an
// HTTPMonitor selects a pod of this node. A kernel that cannot load it
// leaves policy enforcement unaffected. The returned func waits for it.
func startObserver(ctx context.Context, a *agent.Agent, load func() (*source.Set, source.Problems, error), hooks observe.Hooks, log *slog.Logger) (wait func()) {
	m, err := observe.NewManagerFrom(load, hooks, log)
	if err != nil {
		log.Error("http observer disabled: loading its programs failed", "error", err)
		return func() {}
	}
	m.OnExchange(a.PublishExchange)
	if err := a.Registry().Register(m.Collector()); err != nil {
		log.Error("http observer disabled: registering its metrics failed", "error", err)
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := m.Run(ctx); err != nil {
			log.Error("http observer stopped", "error", err)
		}
	})
	return wg.Wait
}
