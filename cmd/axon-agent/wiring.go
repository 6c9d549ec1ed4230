package main

import (
	"io"
	"log/slog"

	"github.com/axon-dev/axon/agent"
	"github.com/axon-dev/axon/agent/datapath"
)

// datapathCloser is the agent's datapath plus Close.
type datapathCloser interface {
	agent.Datapath
	io.Closer
}

// openDatapath loads the BPF objects, reusing maps pinned under pinDir;
// eventRate is deny/audit_deny events per second and CPU.
func openDatapath(pinDir string, maxFlows, eventRate uint32, log *slog.Logger) (datapathCloser, error) {
	return agent.OpenDatapath(pinDir, maxFlows, datapath.WithEventRate(eventRate))
}
