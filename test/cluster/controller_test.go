package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/axon-dev/axon/test/agentproc"
)

// controllerGroup is the group of the controller's user: bound to the
// ClusterRole the project generates (config/rbac/role.yaml), so that the
// controller runs with exactly the permissions it is installed with.
const controllerGroup = "axon:controllers"

// buildController compiles cmd/axon-controller into dir.
func buildController(dir string) (string, error) {
	bin := filepath.Join(dir, "axon-controller")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/axon-dev/axon/cmd/axon-controller")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building axon-controller: %w", err)
	}
	return bin, nil
}

// installControllerRBAC creates the ClusterRole and the Role (in the
// controller's namespace, axon-system) of config/rbac/role.yaml, as deploy/
// installs them, and binds both to controllerGroup.
func installControllerRBAC(ctx context.Context) error {
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "rbac", "role.yaml"))
	if err != nil {
		return fmt.Errorf("reading the controller's role: %w", err)
	}
	subjects := []rbacv1.Subject{{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: controllerGroup}}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		if strings.TrimSpace(strings.TrimPrefix(doc, "---")) == "" {
			continue
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return fmt.Errorf("decoding config/rbac/role.yaml: %w", err)
		}
		switch meta.Kind {
		case "ClusterRole":
			role := &rbacv1.ClusterRole{}
			if err := yaml.UnmarshalStrict([]byte(doc), role); err != nil {
				return fmt.Errorf("decoding config/rbac/role.yaml: %w", err)
			}
			if err := k8s.Create(ctx, role); err != nil {
				return fmt.Errorf("creating the controller's ClusterRole: %w", err)
			}
			b := &rbacv1.ClusterRoleBinding{
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
				Subjects: subjects,
			}
			b.Name = "axon-controller-test"
			if err := k8s.Create(ctx, b); err != nil {
				return fmt.Errorf("creating the controller's ClusterRoleBinding: %w", err)
			}
		case "Role":
			role := &rbacv1.Role{}
			if err := yaml.UnmarshalStrict([]byte(doc), role); err != nil {
				return fmt.Errorf("decoding config/rbac/role.yaml: %w", err)
			}
			ns := &corev1.Namespace{}
			ns.Name = role.Namespace
			if err := k8s.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("creating namespace %s: %w", role.Namespace, err)
			}
			if err := k8s.Create(ctx, role); err != nil {
				return fmt.Errorf("creating the controller's Role: %w", err)
			}
			b := &rbacv1.RoleBinding{
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: role.Name},
				Subjects: subjects,
			}
			b.Name, b.Namespace = "axon-controller-test", role.Namespace
			if err := k8s.Create(ctx, b); err != nil {
				return fmt.Errorf("creating the controller's RoleBinding: %w", err)
			}
		default:
			return fmt.Errorf("config/rbac/role.yaml: unexpected kind %q", meta.Kind)
		}
	}
	return nil
}

// controller is the axon-controller, run as it is deployed (leader election
// on) without the admission webhook (--webhook-port 0: this API server has
// no webhook configuration, and the policies here are valid). Like the
// kubelet of its Deployment, the test starts it again (after a second, not
// the kubelet's back-off) when it exits on its own; exits records each
// such exit.
type controller struct {
	args     []string
	logs     *agentproc.SyncBuffer
	health   string
	metrics  string
	stopping chan struct{}
	done     chan struct{} // closed when the last process is gone

	mu    sync.Mutex
	exits []string // each exit not asked for: the process's error and the error it logged
}

// startController writes the controller's kubeconfig (its own user in
// controllerGroup, straight to the API server) and starts the binary with
// its Lease in namespace leaseNS, waiting for /readyz. It is stopped when t
// ends, and its log printed if t failed.
func startController(t *testing.T, leaseNS string) *controller {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: "system:axon-controller", Groups: []string{controllerGroup}}, restCfg)
	if err != nil {
		t.Fatal(err)
	}
	data, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kc, err := clientcmd.Load(data)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(t.TempDir(), "controller.kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	c := &controller{logs: &agentproc.SyncBuffer{}, health: freeAddr(t), metrics: freeAddr(t),
		stopping: make(chan struct{}), done: make(chan struct{})}
	c.args = []string{"--kubeconfig", kubeconfig, "--webhook-port", "0",
		"--health-addr", c.health, "--metrics-addr", c.metrics,
		"--leader-elect=true", "--leader-election-namespace", leaseNS}
	first := exec.Command(controllerBin, c.args...)
	first.Stdout, first.Stderr = c.logs, c.logs
	if err := first.Start(); err != nil {
		t.Fatalf("starting axon-controller: %v", err)
	}
	go c.supervise(first)
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			t.Logf("axon-controller log:\n%s", c.logs.String())
		}
	})
	waitFor(t, 30*time.Second, "axon-controller to be ready", func() (bool, string) {
		if e := c.exited(); len(e) > 0 {
			t.Fatalf("axon-controller exited: %s\n%s", e[0], c.logs)
		}
		resp, err := http.Get("http://" + c.health + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return c
}

// supervise waits for cmd and starts the controller again when it exits
// without stop asking; on stop it sends SIGTERM (the controller releases its
// Lease), and SIGKILL after 15 s.
func (c *controller) supervise(cmd *exec.Cmd) {
	defer close(c.done)
	from := 0 // where the running process's log starts
	for {
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		var err error
		select {
		case err = <-exited:
		case <-c.stopping:
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
			return
		}
		// The binary's own last word (msg=axon-controller), else its last
		// error line.
		last := ""
		for _, l := range strings.Split(c.logs.String()[from:], "\n") {
			if strings.Contains(l, "msg=axon-controller ") || (strings.Contains(l, "level=ERROR") && !strings.Contains(last, "msg=axon-controller ")) {
				last = l
			}
		}
		c.mu.Lock()
		c.exits = append(c.exits, fmt.Sprintf("%v: %s", err, last))
		c.mu.Unlock()
		select {
		case <-time.After(time.Second):
		case <-c.stopping:
			return
		}
		fmt.Fprintf(c.logs, "--- axon-controller exited (%v); started again ---\n", err)
		from = len(c.logs.String())
		cmd = exec.Command(controllerBin, c.args...)
		cmd.Stdout, cmd.Stderr = c.logs, c.logs
		if err := cmd.Start(); err != nil {
			c.mu.Lock()
			c.exits = append(c.exits, "starting again: "+err.Error())
			c.mu.Unlock()
			return
		}
	}
}

// writes returns the controller's axon_controller_policy_status_writes_total
// series and how many of its reconciles failed (log lines "Reconciler
// error").
func (c *controller) writes() (series []string, failed int, err error) {
	resp, err := http.Get("http://" + c.metrics + "/metrics")
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "axon_controller_policy_status_writes_total{") {
			series = append(series, l)
		}
	}
	return series, strings.Count(c.logs.String(), `msg="Reconciler error"`), nil
}

// exited returns the exits not asked for so far.
func (c *controller) exited() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.exits)
}

func (c *controller) stop() {
	select {
	case <-c.stopping:
	default:
		close(c.stopping)
	}
	<-c.done
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
