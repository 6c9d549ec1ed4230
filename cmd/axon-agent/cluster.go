package main

import (
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/axon-dev/axon/agent/cluster"
)

// clusterSource connects to the API server of kubeconfig, or with the pod's
// service account when kubeconfig is empty (--in-cluster).
func clusterSource(kubeconfig, node string, heartbeat time.Duration, log *slog.Logger) (*cluster.Source, error) {
	var (
		rc  *rest.Config
		err error
	)
	if kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("api server config: %w", err)
	}
	rc.UserAgent = "axon-agent/" + node
	return cluster.New(cluster.Config{Rest: rc, NodeName: node, Heartbeat: heartbeat,
		AgentVersion: version(), Logger: log})
}

// version is the module version the binary was built from ("(devel)" for a
// local build).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}
