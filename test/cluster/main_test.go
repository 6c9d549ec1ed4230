package cluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
)

// One control plane for the package; its API server can be stopped and
// started again on the same address and certificates (restartAPIServer).
var (
	apiSkip  string // why the tests cannot run ("" when they can)
	env      *envtest.Environment
	restCfg  *rest.Config
	scheme   *runtime.Scheme
	k8s      client.Client
	agentBin string
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
	dir, err := assets()
	if err != nil {
		apiSkip = "no etcd and kube-apiserver for envtest: " + err.Error()
		return m.Run()
	}
	if scheme, err = cluster.Scheme(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	_ = rbacv1.AddToScheme(scheme)

	start := time.Now()
	bin, remove, err := agentproc.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	agentBin = bin
	fmt.Fprintf(os.Stderr, "cluster: axon-agent built in %s\n", time.Since(start).Round(time.Millisecond))

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
	return m.Run()
}

// assets returns the folder with etcd and kube-apiserver: KUBEBUILDER_ASSETS,
// or what scripts/envtest-assets.sh builds (once per machine) and prints.
func assets() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	out, err := exec.Command("../../scripts/envtest-assets.sh").Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return "", fmt.Errorf("scripts/envtest-assets.sh: %w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("scripts/envtest-assets.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
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
