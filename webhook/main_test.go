package webhook_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	ctrlwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/axon-dev/axon/test/apiserver"
	"github.com/axon-dev/axon/webhook"
)

// One control plane (etcd + kube-apiserver) for the package, with the CRDs
// from crds/ and the ValidatingWebhookConfiguration from config/webhook
// installed, and the webhook served by this process.
var (
	apiSkip  string // why the API-server tests cannot run ("" when they can)
	scheme   *runtime.Scheme
	cfg      *rest.Config
	k8s      client.Client
	warnings = &warningRecorder{}
	tlsAddr  string // the webhook server's host:port
	certDir  string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	logf.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	var err error
	if scheme, err = webhook.Scheme(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = apiextensionsv1.AddToScheme(scheme)

	dir, err := apiserver.Assets()
	if err != nil {
		apiSkip = "no etcd and kube-apiserver for envtest: " + err.Error()
		return m.Run()
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join("..", "crds")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join("..", "config", "webhook")}},
	}
	start := time.Now()
	// With the binaries there, a control plane that does not start (or a CRD
	// it refuses to install) is a failure, never a skip.
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "envtest: control plane up in %s (assets %s)\n", time.Since(start).Round(time.Millisecond), dir)
	defer func() {
		start := time.Now()
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
		fmt.Fprintf(os.Stderr, "envtest: stopped in %s\n", time.Since(start).Round(time.Millisecond))
	}()

	wcfg := rest.CopyConfig(cfg)
	wcfg.WarningHandlerWithContext = warnings
	if k8s, err = client.New(wcfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	reader, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	wo := &env.WebhookInstallOptions
	certDir = wo.LocalServingCertDir
	tlsAddr = net.JoinHostPort(wo.LocalServingHost, strconv.Itoa(wo.LocalServingPort))
	srv := ctrlwebhook.NewServer(ctrlwebhook.Options{Host: wo.LocalServingHost, Port: wo.LocalServingPort, CertDir: wo.LocalServingCertDir})
	webhook.Register(srv, scheme, reader)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	// Stop the webhook server before the control plane (deferred above).
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "webhook server:", err)
		}
	}()
	if err := waitTLS(tlsAddr, 30*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func waitTLS(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook server at %s: %w", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// warningRecorder keeps the warnings the API server sends back (admission
// warnings among them); tests take them after each request.
type warningRecorder struct {
	mu   sync.Mutex
	list []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.list = append(w.list, text)
}

// take returns the warnings recorded since the last call.
func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

// requireAPI skips or fails a test that needs the API server when there is none.
func requireAPI(t *testing.T) { apiserver.Require(t, apiSkip) }
