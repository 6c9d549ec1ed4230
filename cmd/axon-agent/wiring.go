package main

import (
	"errors"
	"io"
	"log/slog"

	"github.com/axon-dev/axon/agent"
)

// datapathCloser is the agent's datapath plus Close.
type datapathCloser interface {
	agent.Datapath
	io.Closer
}

var errNoDatapath = errors.New("the TC datapath is not built into this binary yet")

// openDatapath loads the BPF objects, reusing maps pinned under pinDir.
func openDatapath(pinDir string, log *slog.Logger) (datapathCloser, error) {
	return nil, errNoDatapath
}

// loadPolicy reads a policy directory and compiles it.
var loadPolicy agent.Loader = agent.LoadDir
