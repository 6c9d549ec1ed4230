// Command axon-controller is Axon's cluster controller: one
// controller-runtime manager that runs the reconcilers of controller/ (the
// list in reconcilers.go) under leader election, and serves the validating
// admission webhook (package webhook) on every replica.
//
//	axon-controller [--webhook-port 9443 --cert-dir /tls] [--metrics-addr :8080]
//	                [--health-addr :8081] [--leader-elect=true] [--kubeconfig FILE]
//	                [--namespace NS] [--agent-image IMAGE] [--create-default-agent=true]
//	                [--webhook-config NAME [--webhook-secret NAME] [--webhook-service NAME]]
//
// The operator part (controller/agentset) keeps the agent DaemonSet in
// --namespace from AxonAgent default; with --webhook-config the controller
// also makes the webhook's certificate (controller/webhookcert): the leader
// keeps the Secret and caBundle, every replica copies the Secret into
// --cert-dir.
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
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/controller/agentset"
	"github.com/axon-dev/axon/controller/webhookcert"
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

	// The operator (controller/agentset): the agent DaemonSet's namespace
	// and default image; whether to create AxonAgent default.
	namespace          string
	agentImage         string
	createDefaultAgent bool
	// The webhook's certificate (controller/webhookcert); an empty
	// webhookConfig leaves certificates to someone else (cert-manager).
	webhookConfig, webhookSecret, webhookService string
}

// version is set at link time (-X main.version=...) by make images.
var version = "dev"

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
	fs.StringVar(&o.namespace, "namespace", envOr("POD_NAMESPACE", "axon-system"), "namespace of the agent DaemonSet and the webhook Secret (the controller's own)")
	fs.StringVar(&o.agentImage, "agent-image", "ghcr.io/axon-dev/axon-agent:"+version, "agent image when the AxonAgent names none")
	fs.BoolVar(&o.createDefaultAgent, "create-default-agent", true, "create AxonAgent default at start when there is none")
	fs.StringVar(&o.webhookConfig, "webhook-config", "", "ValidatingWebhookConfiguration to give the CA (caBundle); empty: the controller makes no certificate")
	fs.StringVar(&o.webhookSecret, "webhook-secret", "axon-webhook-tls", "Secret in --namespace that holds the webhook's CA and serving certificate")
	fs.StringVar(&o.webhookService, "webhook-service", "axon-webhook", "Service in --namespace that the certificate names")
	showVersion := fs.Bool("version", false, "print the version and exit")
	// The webhook refuses a policy that alone would not fit the agents'
	// maps: those of AxonAgent default, which this controller gives the
	// agents; these flags only when there is none (agents run otherwise).
	setSizes := datapath.RegisterLimitFlagsToSet(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := setSizes(); err != nil {
		fmt.Fprintln(os.Stderr, "axon-controller:", err)
		return 2
	}
	if *showVersion {
		fmt.Println(version)
		return 0
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
	if o.namespace == "" {
		o.namespace = "axon-system"
	}
	mo.Cache = cache.Options{ByObject: agentset.CacheOptions(o.namespace)}
	if o.leaderNamespace == "" {
		mo.LeaderElectionNamespace = o.namespace
	}
	if o.webhookPort != 0 {
		mo.WebhookServer = ctrlwebhook.NewServer(ctrlwebhook.Options{Host: o.webhookHost, Port: o.webhookPort, CertDir: o.certDir})
	}
	mgr, err := manager.New(cfg, mo)
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if o.webhookConfig != "" {
		rot := &webhookcert.Rotator{
			Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(),
			Namespace: o.namespace, SecretName: o.webhookSecret, ServiceName: o.webhookService,
			WebhookConfigName: o.webhookConfig,
		}
		if err := mgr.Add(rot); err != nil {
			return err
		}
		if o.webhookPort != 0 {
			// The webhook server cannot start without its files: make
			// them before the manager starts, then follow the Secret.
			if err := rot.Bootstrap(ctx, o.certDir, 2*time.Minute); err != nil {
				return err
			}
			if err := mgr.Add(&webhookcert.CertDirSync{Rotator: rot, Dir: o.certDir}); err != nil {
				return err
			}
		}
	}
	for _, r := range reconcilers(o) {
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

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
