// Command axon-controller is Axon's operator: a controller-runtime manager
// with leader election that runs the reconcilers of the list below.
//
//	axon-controller [--namespace NS] [--agent-image IMAGE] [--leader-elect]
//	                [--metrics-addr :8080] [--health-addr :8081] [--kubeconfig FILE]
//	                [--webhook-config NAME --webhook-secret NAME --webhook-service NAME]
//
// With --webhook-config it also keeps the admission webhook's serving
// certificate (controller/webhookcert).
//
// This is the minimal binary of the operator branch (AxonAgent -> agent
// DaemonSet, controller/agentset); the policy status reconcilers join the
// list in reconcilers.
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
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/controller/agentset"
	"github.com/axon-dev/axon/controller/webhookcert"
)

// version is set at link time (-X main.version=...) by make images.
var version = "dev"

func main() { os.Exit(run(os.Args[1:])) }

type options struct {
	kubeconfig, namespace, agentImage string
	metricsAddr, healthAddr           string
	leaderElect, createDefaultAgent   bool
	// The webhook's certificate (controller/webhookcert); an empty
	// webhookConfig leaves certificates to someone else (cert-manager).
	webhookSecret, webhookService, webhookConfig string
}

func run(args []string) int {
	fs := flag.NewFlagSet("axon-controller", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG)")
	fs.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "axon-system"), "namespace of the agent DaemonSet (the controller's own)")
	fs.StringVar(&o.agentImage, "agent-image", "ghcr.io/axon-dev/axon-agent:"+version, "agent image when the AxonAgent names none")
	fs.StringVar(&o.metricsAddr, "metrics-addr", ":8080", "HOST:PORT of /metrics (0 disables)")
	fs.StringVar(&o.healthAddr, "health-addr", ":8081", "HOST:PORT of /healthz and /readyz (0 disables)")
	fs.BoolVar(&o.leaderElect, "leader-elect", false, "take a Lease in --namespace so that one replica reconciles at a time")
	fs.StringVar(&o.webhookSecret, "webhook-secret", "axon-webhook-tls", "Secret in --namespace that holds the webhook's serving certificate")
	fs.StringVar(&o.webhookService, "webhook-service", "axon-webhook", "Service in --namespace that the certificate names")
	fs.StringVar(&o.webhookConfig, "webhook-config", "", "ValidatingWebhookConfiguration to give the CA (caBundle); empty: the controller makes no certificate")
	fs.BoolVar(&o.createDefaultAgent, "create-default-agent", true, "create AxonAgent default at start when there is none")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Println(version)
		return 0
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctrl.SetLogger(logr.FromSlogHandler(log.Handler()))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, o); err != nil {
		log.Error("axon-controller", "error", err)
		return 1
	}
	return 0
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// reconciler is one entry of the controller's list.
type reconciler interface {
	SetupWithManager(ctrl.Manager) error
}

func reconcilers(o options) []reconciler {
	return []reconciler{
		&agentset.Reconciler{Options: agentset.Options{
			Namespace: o.namespace, DefaultImage: o.agentImage, CreateDefault: o.createDefaultAgent,
		}},
	}
}

func serve(ctx context.Context, o options) error {
	if o.kubeconfig != "" {
		os.Setenv("KUBECONFIG", o.kubeconfig)
	}
	cfg, err := config.GetConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.healthAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "axon-controller.axon.dev",
		LeaderElectionNamespace: o.namespace,
		Cache:                   cache.Options{ByObject: agentset.CacheOptions(o.namespace)},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	for _, r := range reconcilers(o) {
		if err := r.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up %T: %w", r, err)
		}
	}
	if o.webhookConfig != "" {
		if err := mgr.Add(&webhookcert.Rotator{
			Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(),
			Namespace: o.namespace, SecretName: o.webhookSecret, ServiceName: o.webhookService,
			WebhookConfigName: o.webhookConfig,
		}); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running manager: %w", err)
	}
	return nil
}
