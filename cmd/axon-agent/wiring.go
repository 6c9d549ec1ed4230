package main

import (
	"io"
	"time"

	"github.com/axon-dev/axon/agent"
	"github.com/axon-dev/axon/agent/datapath"
)

// datapathCloser is the agent's datapath plus Close.
type datapathCloser interface {
	agent.Datapath
	io.Closer
}

// openDatapath loads the BPF objects, reusing maps pinned under pinDir;
// eventRate is deny/audit_deny events per second and CPU; gapSlack how long
// after an audit gap new connections count as open at it; pathHash false
// writes no path_hash entries.
func openDatapath(pinDir string, maxFlows, eventRate uint32, gapSlack time.Duration, pathHash bool) (datapathCloser, error) {
	opts := []datapath.Option{datapath.WithEventRate(eventRate), datapath.WithGapSlack(gapSlack)}
	if !pathHash {
		opts = append(opts, datapath.WithoutPathHash())
	}
	return agent.OpenDatapath(pinDir, maxFlows, opts...)
}
