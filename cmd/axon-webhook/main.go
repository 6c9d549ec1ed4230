// Command axon-webhook is Axon's validating admission webhook: it refuses
// L7NetworkPolicy objects that cannot be enforced and warns about risky
// ones (package webhook, docs/webhook.md).
//
//	axon-webhook --cert-dir /tls [--port 9443] [--health-addr :8081] [--kubeconfig FILE]
//
// It serves HTTPS with tls.crt and tls.key from --cert-dir (a mounted
// Secret), reloading them when they change, and reads the ConfigMaps that
// hold policies' Rego modules from the API server. It is a binary of its own
// rather than a subcommand of a controller so that it can be deployed, scaled
// and given RBAC (get configmaps, get axonagents) on its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/webhook"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("axon-webhook", flag.ContinueOnError)
	certDir := fs.String("cert-dir", "/tls", "directory holding tls.crt and tls.key (reloaded when they change)")
	host := fs.String("host", "", "address to listen on (empty: all)")
	port := fs.Int("port", 9443, "HTTPS port the API server calls")
	healthAddr := fs.String("health-addr", ":8081", "HOST:PORT for /healthz and /readyz (0 disables)")
	metricsAddr := fs.String("metrics-addr", "0", "HOST:PORT for controller-runtime's /metrics (0 disables)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG)")
	// A policy is refused when it alone would not fit the agents' maps:
	// those of AxonAgent default when it exists (the agents run with its
	// sizes), else these flags (give them the agents' --max-* flags).
	setSizes := datapath.RegisterLimitFlagsToSet(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := setSizes(); err != nil {
		fmt.Fprintln(os.Stderr, "axon-webhook:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, *kubeconfig, *certDir, *host, *port, *healthAddr, *metricsAddr); err != nil {
		log.Error("axon-webhook", "error", err)
		return 1
	}
	return 0
}

// serve runs the webhook until ctx is done.
func serve(ctx context.Context, kubeconfig, certDir, host string, port int, healthAddr, metricsAddr string) error {
	if kubeconfig != "" {
		os.Setenv("KUBECONFIG", kubeconfig)
	}
	cfg, err := config.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	scheme, err := webhook.Scheme()
	if err != nil {
		return err
	}
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:                 scheme,
		WebhookServer:          ctrlwebhook.NewServer(ctrlwebhook.Options{Host: host, Port: port, CertDir: certDir}),
		HealthProbeBindAddress: healthAddr,
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	// The API reader, not the manager's cache: a cache would watch every
	// ConfigMap of the cluster for the few that hold Rego.
	webhook.Register(mgr.GetWebhookServer(), scheme, mgr.GetAPIReader())
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return err
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}
