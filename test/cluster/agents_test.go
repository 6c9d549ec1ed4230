package cluster

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitAttached waits until p's node agent has its programs attached to both
// directions of p's host-side interface.
func waitAttached(t *testing.T, p *pod, within time.Duration) {
	t.Helper()
	p.node.agent.WaitMetric("axon_attached", map[string]string{"interface": p.veth}, within,
		func(v float64) bool { return v == 2 })
}

// waitDetached waits until p's interface has no attachment left: no
// axon_attached series and no pinned link.
func waitDetached(t *testing.T, p *pod, within time.Duration) {
	t.Helper()
	p.node.agent.WaitMetric("axon_attached", map[string]string{"interface": p.veth}, within,
		func(v float64) bool { return v == 0 })
	waitFor(t, within, "the pins of "+p.veth+" to go", func() (bool, string) {
		var left []string
		for _, sub := range []string{"links", "progs"} {
			ents, _ := os.ReadDir(filepath.Join(p.node.pinDir, sub))
			for _, e := range ents {
				if strings.HasSuffix(e.Name(), "_"+p.veth) {
					left = append(left, e.Name())
				}
			}
		}
		return len(left) == 0, strings.Join(left, ", ")
	})
}

// waitLog waits until n's agent has logged substr.
func waitLog(t *testing.T, n *node, substr string, within time.Duration) {
	t.Helper()
	waitFor(t, within, n.name+"'s agent to log "+substr, func() (bool, string) {
		return strings.Contains(n.agent.Logs.String(), substr), ""
	})
}

// logCount counts the lines of n's agent log that contain substr.
func logCount(n *node, substr string) int { return strings.Count(n.agent.Logs.String(), substr) }

// waitLogMore waits until n's agent has logged substr more than before times.
func waitLogMore(t *testing.T, n *node, substr string, before int, within time.Duration) {
	t.Helper()
	waitFor(t, within, n.name+"'s agent to log "+substr, func() (bool, string) {
		return logCount(n, substr) > before, ""
	})
}

// stopAPIServer stops the kube-apiserver process (etcd keeps running); it is
// started again at the end of the test if the test does not.
func stopAPIServer(t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := env.ControlPlane.APIServer.Stop(); err != nil && !strings.Contains(err.Error(), "timeout waiting") {
		t.Fatalf("stopping the API server: %v", err)
	}
	t.Logf("API server stopped in %v", time.Since(start).Round(time.Millisecond))
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(restCfg.Host, "https://"), time.Second); err == nil {
		c.Close()
		t.Fatal("the API server still accepts connections after it was stopped")
	}
	apiDown = true
	t.Cleanup(func() {
		if apiDown {
			startAPIServer(t)
		}
	})
}

var apiDown bool

// startAPIServer starts the API server again on the same address with the
// same certificates and waits until it serves.
func startAPIServer(t *testing.T) {
	t.Helper()
	start := time.Now()
	if err := env.ControlPlane.APIServer.Start(); err != nil {
		t.Fatalf("starting the API server again: %v", err)
	}
	apiDown = false
	t.Logf("API server back in %v", time.Since(start).Round(time.Millisecond))
}
