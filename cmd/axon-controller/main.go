// Command axon-controller is Axon's cluster controller: one
// controller-runtime manager that runs the reconcilers of controller/ (the
// list in reconcilers.go) under leader election, and serves the validating
// admission webhook (package webhook) on every replica.
//
//	axon-controller [--webhook-port 9443 --cert-dir /tls] [--metrics-addr :8080]
//	                [--health-addr :8081] [--leader-elect=true] [--kubeconfig FILE]
//
// One Deployment of it is the whole control plane of Axon; --webhook-port 0
// leaves the webhook to a separate axon-webhook Deployment. docs/controller.md
// has the details.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/axon-dev/axon/webhook"
)

func main() { os.Exit(run(os.Args[1:])) }

// options are the command line.
type options struct {
	kubeconfig      string
	metricsAddr     string
	healthAddr      string
	leaderElect     bool
	leaderNamespace string
	webhookHost     string
	webhookPort     int
	certDir         string
}

func run(args []string) int {
	var o options
	fs := flag.NewFlagSet("axon-controller", flag.ContinueOnError)
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG)")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":8080", "HOST:PORT for /metrics (0 disables)")
	fs.StringVar(&o.healthAddr, "health-addr", ":8081", "HOST:PORT for /healthz and /readyz (0 disables)")
	fs.BoolVar(&o.leaderElect, "leader-elect", true, "run the reconcilers only in the replica holding the Lease (the webhook is served by every replica)")
	fs.StringVar(&o.leaderNamespace, "leader-election-namespace", "", "namespace of the Lease (default: the pod's namespace)")
	fs.StringVar(&o.webhookHost, "webhook-host", "", "address the webhook listens on (empty: all)")
	fs.IntVar(&o.webhookPort, "webhook-port", 9443, "HTTPS port of the admission webhook (0: do not serve it)")
	fs.StringVar(&o.certDir, "cert-dir", "/tls", "directory holding the webhook's tls.crt and tls.key (reloaded when they change)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, o); err != nil {
		log.Error("axon-controller", "error", err)
		return 1
	}
	return 0
}

// serve runs the manager until ctx is done.
func serve(ctx context.Context, o options) error {
	if o.kubeconfig != "" {
		os.Setenv("KUBECONFIG", o.kubeconfig)
	}
	cfg, err := config.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	scheme, err := webhook.Scheme()
	if err != nil {
		return err
	}
	mo := manager.Options{
		Scheme:                        scheme,
		HealthProbeBindAddress:        o.healthAddr,
		Metrics:                       metricsserver.Options{BindAddress: o.metricsAddr},
		LeaderElection:                o.leaderElect,
		LeaderElectionID:              "axon-controller.axon.dev",
		LeaderElectionNamespace:       o.leaderNamespace,
		LeaderElectionReleaseOnCancel: true,
		GracefulShutdownTimeout:       ptr(10 * time.Second),
	}
	if o.webhookPort != 0 {
		mo.WebhookServer = ctrlwebhook.NewServer(ctrlwebhook.Options{Host: o.webhookHost, Port: o.webhookPort, CertDir: o.certDir})
	}
	mgr, err := manager.New(cfg, mo)
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	for _, r := range reconcilers {
		if err := r.setup(mgr); err != nil {
			return fmt.Errorf("setting up %s: %w", r.name, err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if o.webhookPort != 0 {
		// The API reader, not the cache, for the webhook's ConfigMap reads.
		webhook.Register(mgr.GetWebhookServer(), scheme, mgr.GetAPIReader())
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return err
		}
	} else if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
