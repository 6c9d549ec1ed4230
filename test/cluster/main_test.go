package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/axon-dev/axon/agent/cluster"
	"github.com/axon-dev/axon/test/agentproc"
	"github.com/axon-dev/axon/test/apiserver"
)

// One control plane for the package; its API server can be stopped and
// started again on the same address and certificates (restartAPIServer).
var (
	apiSkip       string // why the tests cannot run ("" when they can)
	env           *envtest.Environment
	restCfg       *rest.Config
	scheme        *runtime.Scheme
	k8s           client.Client
	agentBin      string
	controllerBin string
)

// require skips (or, where every test must run, fails) a test that lacks
// root or the control plane.
func require(t *testing.T) {
	t.Helper()
	if apiSkip == "" {
		return
	}
	if os.Getenv("CI") == "true" || os.Getenv("AXON_REQUIRE_ROOT") == "1" {
		t.Fatalf("cannot run, and this run requires every test to run (CI=true or AXON_REQUIRE_ROOT=1): %s", apiSkip)
	}
	t.Skip(apiSkip)
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	logf.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})))
	if os.Geteuid() != 0 {
		apiSkip = "needs root"
		return m.Run()
	}
	dir, err := apiserver.Assets()
	if err != nil {
		apiSkip = "no etcd and kube-apiserver for envtest: " + err.Error()
		return m.Run()
	}
	if scheme, err = cluster.Scheme(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = rbacv1.AddToScheme(scheme)

	// The controller is built beside the agent: two links at once.
	start := time.Now()
	ctlDir, err := os.MkdirTemp("", "axon-controller-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(ctlDir)
	ctlErr := make(chan error, 1)
	go func() {
		var err error
		controllerBin, err = buildController(ctlDir)
		ctlErr <- err
	}()
	bin, remove, err := agentproc.Build()
	if cerr := <-ctlErr; err == nil {
		err = cerr
	}
	if remove != nil {
		defer remove()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	agentBin = bin
	fmt.Fprintf(os.Stderr, "cluster: axon-agent and axon-controller built in %s\n", time.Since(start).Round(time.Millisecond))

	certDir, err := os.MkdirTemp("", "axon-cluster-apiserver")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(certDir)
	env = &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	// A certificate directory of our own survives a stop: the restarted API
	// server keeps its serving certificate, so clients keep trusting it.
	// A stop that is not over after apiStopTimeout (the API server drains
	// its watches first) ends with SIGKILL: a crash is an outage too.
	env.ControlPlane.APIServer = &envtest.APIServer{CertDir: certDir}
	env.ControlPlaneStopTimeout = apiStopTimeout
	start = time.Now()
	if restCfg, err = env.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "starting envtest:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "cluster: control plane up in %s\n", time.Since(start).Round(time.Millisecond))
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stopping envtest:", err)
		}
	}()
	if k8s, err = client.New(restCfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := installAgentRBAC(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := installControllerRBAC(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

const apiStopTimeout = 5 * time.Second

// agentGroup is the group of the agents' users; agentRules are all they may
// do: the agents run with exactly these permissions, not as admin.
const agentGroup = "axon:agents"

var agentRules = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"pods", "namespaces", "configmaps"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}},
	{APIGroups: []string{"axon.dev"}, Resources: []string{"l7networkpolicies", "httpmonitors"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"axon.dev"}, Resources: []string{"axonnodestatuses"}, Verbs: []string{"get", "create"}},
	{APIGroups: []string{"axon.dev"}, Resources: []string{"axonnodestatuses/status"}, Verbs: []string{"update"}},
}

func installAgentRBAC(ctx context.Context) error {
	role := &rbacv1.ClusterRole{Rules: agentRules}
	role.Name = "axon-agent-test"
	if err := k8s.Create(ctx, role); err != nil {
		return fmt.Errorf("creating the agents' ClusterRole: %w", err)
	}
	b := &rbacv1.ClusterRoleBinding{
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: agentGroup}},
	}
	b.Name = "axon-agent-test"
	if err := k8s.Create(ctx, b); err != nil {
		return fmt.Errorf("creating the agents' ClusterRoleBinding: %w", err)
	}
	return nil
}
