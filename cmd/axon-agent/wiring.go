package main

import (
	"io"
	"log/slog"

	"github.com/axon-dev/axon/agent"
)

// datapathCloser is the agent's datapath plus Close.
type datapathCloser interface {
	agent.Datapath
	io.Closer
}

// openDatapath loads the BPF objects, reusing maps pinned under pinDir.
func openDatapath(pinDir string, maxFlows uint32, log *slog.Logger) (datapathCloser, error) {
	return agent.OpenDatapath(pinDir, maxFlows)
}

// loadPolicy reads a policy directory and compiles it, reusing the partial
// evaluations of unchanged policies from the previous load.
var loadPolicy = agent.NewDirLoader()
