package evasion

import (
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
)

// agent is one running axon-agent process.
type agent = agentproc.Proc

// startAgent runs the real axon-agent on policyDir attached to ifaces with
// a fresh pin directory, and waits until /readyz answers 200. The process
// is killed and its pins removed at cleanup.
func startAgent(t *testing.T, policyDir string, ifaces ...string) *agent {
	t.Helper()
	return startAgentArgs(t, policyDir, nil, ifaces...)
}

// startAgentArgs is startAgent with extra command-line flags.
func startAgentArgs(t *testing.T, policyDir string, extra []string, ifaces ...string) *agent {
	t.Helper()
	pinDir := agentproc.PinDir(t, agentBin, "axon-evasion")
	return agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: policyDir, PinDir: pinDir, Ifaces: ifaces, Args: extra}, 20*time.Second)
}
