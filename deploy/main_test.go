// Tests of deploy/: kustomize renders it (with kustomize's Go API, as
// `kubectl apply -k` does) and a real kube-apiserver accepts every object;
// the controller binary, running with only its service account's RBAC,
// installs the agents and the webhook's certificate and serves the webhook;
// the agent's RBAC allows what it needs and refuses the rest.
package deploy_test

import (
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/test/apiserver"
)

// One control plane for the package, with nothing installed: the tests
// install deploy/ themselves.
var (
	apiSkip string
	cfg     *rest.Config
	scheme  *runtime.Scheme
	k8s     client.Client
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	logf.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	scheme = runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = apiextensionsv1.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		out, err := exec.Command("../scripts/envtest-assets.sh").Output()
		if err != nil {
			apiSkip = "no etcd and kube-apiserver for envtest: " + err.Error()
			return m.Run()
		}
		dir = strings.TrimSpace(string(out))
	}
	env := &envtest.Environment{BinaryAssetsDirectory: dir}
	var err error
	if cfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	defer env.Stop()
	if k8s, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// requireAPI skips or fails a test that needs the API server when there is none.
func requireAPI(t *testing.T) { apiserver.Require(t, apiSkip) }
