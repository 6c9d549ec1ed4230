package main

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

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
	// client-go and controller-runtime log through the agent's logger,
	// warnings and errors only: the agent logs the API server's state itself.
	quiet := slog.New(minLevel{slog.LevelWarn, log.Handler()})
	klog.SetSlogLogger(quiet)
	ctrllog.SetLogger(logr.FromSlogHandler(quiet.Handler()))
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

// minLevel is a slog.Handler that drops records below a level.
type minLevel struct {
	min slog.Level
	slog.Handler
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{h.min, h.Handler.WithAttrs(as)}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{h.min, h.Handler.WithGroup(name)}
}
