package deploy_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"

	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
)

const ns = "axon-system"

func serviceAccount(name string) (string, []string) {
	return "system:serviceaccount:" + ns + ":" + name,
		[]string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
}

// as returns a client that acts as a service account of deploy/, with only
// its RBAC; extra is the user info extra a bound token carries.
func as(t *testing.T, sa string, extra map[string][]string) client.Client {
	t.Helper()
	c := rest.CopyConfig(cfg)
	user, groups := serviceAccount(sa)
	c.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: groups, Extra: extra}
	cl, err := client.New(c, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func wantForbidden(t *testing.T, what string, err error) {
	t.Helper()
	if !apierrors.IsForbidden(err) {
		t.Errorf("%s: %v, want Forbidden", what, err)
	}
}

func wantOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// The agent's service account reads what an agent compiles and writes its
// own node's AxonNodeStatus, and nothing else: not another node's record
// (the admission policy), not policies, not Secrets.
func TestAgentRBAC(t *testing.T) {
	install(t)
	ctx := t.Context()
	agent := as(t, "axon-agent", map[string][]string{"authentication.kubernetes.io/node-name": {"node-a"}})
	wantOK(t, "list pods", agent.List(ctx, &corev1.PodList{}))
	wantOK(t, "list namespaces", agent.List(ctx, &corev1.NamespaceList{}))
	wantOK(t, "list configmaps", agent.List(ctx, &corev1.ConfigMapList{}))
	wantOK(t, "list l7networkpolicies", agent.List(ctx, &v1alpha1.L7NetworkPolicyList{}))
	wantOK(t, "list httpmonitors", agent.List(ctx, &v1alpha1.HTTPMonitorList{}))
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	if err := k8s.Create(ctx, node); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	wantOK(t, "get its node", agent.Get(ctx, client.ObjectKeyFromObject(node), &corev1.Node{}))
	wantForbidden(t, "list nodes", agent.List(ctx, &corev1.NodeList{}))

	own := &v1alpha1.AxonNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}}
	wantOK(t, "create own node's record", agent.Create(ctx, own))
	own.Status.Enforcing, own.Status.HeartbeatTime = true, metav1.Now()
	wantOK(t, "update own node's record status", agent.Status().Update(ctx, own))

	other := &v1alpha1.AxonNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-b"}}
	err := agent.Create(ctx, other)
	wantForbidden(t, "create another node's record", err)
	if err != nil && !strings.Contains(err.Error(), "only the AxonNodeStatus of its own node") {
		t.Errorf("refusal does not say why: %v", err)
	}
	// The record of node-b, written by its own agent; node-a's agent
	// may not change it.
	nodeB := as(t, "axon-agent", map[string][]string{"authentication.kubernetes.io/node-name": {"node-b"}})
	wantOK(t, "node-b's agent creates its record", nodeB.Create(ctx, other))
	other.Status.Enforcing = true
	wantForbidden(t, "node-a's agent updates node-b's record status", agent.Status().Update(ctx, other))
	// A token without a node name (not bound to a pod) writes nothing.
	unbound := as(t, "axon-agent", nil)
	wantForbidden(t, "create a record without a node-bound token", unbound.Create(ctx, &v1alpha1.AxonNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: "node-c"}}))

	wantForbidden(t, "delete own record", agent.Delete(ctx, own))
	wantForbidden(t, "create a policy", agent.Create(ctx, &v1alpha1.L7NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"}}))
	wantForbidden(t, "list secrets", agent.List(ctx, &corev1.SecretList{}))
	wantForbidden(t, "update a pod", agent.Update(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default"}}))
	wantForbidden(t, "patch the AxonAgent", agent.Create(ctx, &v1alpha1.AxonAgent{ObjectMeta: metav1.ObjectMeta{Name: "default"}}))
}

// The controller binary, running with the rendered Deployment's arguments
// and only its service account's RBAC (impersonated through its
// kubeconfig) against the installed deploy/, creates AxonAgent default, the
// agent DaemonSet with deploy/'s agent image, the webhook's Secret and
// caBundle, takes the leader Lease, serves the webhook with that
// certificate, and logs no refused request.
func TestControllerWithItsRBAC(t *testing.T) {
	install(t)
	ctx := t.Context()
	bin := filepath.Join(t.TempDir(), "axon-controller")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/axon-controller").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/axon-controller: %v\n%s", err, out)
	}
	user, groups := serviceAccount("axon-controller")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken,
		Impersonate: user, ImpersonateGroups: groups,
	}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "sa"}
	kc.CurrentContext = "sa"
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}

	// The controller Deployment's arguments, with the ports off.
	objs := render(t, ".")
	args := controllerArgs(t, objs)
	certDir := t.TempDir()
	port := freePort(t)
	args = append(args, "--kubeconfig="+kubeconfig, "--metrics-addr=0", "--health-addr=0",
		"--cert-dir="+certDir, "--webhook-host=127.0.0.1", fmt.Sprintf("--webhook-port=%d", port))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "POD_NAMESPACE="+ns)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("controller log:\n%s", logs.String())
		}
	}()

	v := version(t)
	eventually(t, 60*time.Second, "controller installs the agents and the webhook certificate", func() error {
		var a v1alpha1.AxonAgent
		if err := k8s.Get(ctx, client.ObjectKey{Name: "default"}, &a); err != nil {
			return fmt.Errorf("AxonAgent default: %w", err)
		}
		var ds appsv1.DaemonSet
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "axon-agent"}, &ds); err != nil {
			return fmt.Errorf("DaemonSet: %w", err)
		}
		if img := ds.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/axon-dev/axon-agent:"+v {
			return fmt.Errorf("agent image %s", img)
		}
		if ds.Spec.Template.Spec.ServiceAccountName != "axon-agent" {
			return fmt.Errorf("agent service account %q", ds.Spec.Template.Spec.ServiceAccountName)
		}
		if a.Status.DaemonSet != ns+"/axon-agent" {
			return fmt.Errorf("AxonAgent status %+v (the controller cannot read its DaemonSet or write the status)", a.Status)
		}
		var sec corev1.Secret
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "axon-webhook-tls"}, &sec); err != nil {
			return fmt.Errorf("webhook Secret: %w", err)
		}
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		if err := k8s.Get(ctx, client.ObjectKey{Name: "axon-validating-webhook"}, &vwc); err != nil {
			return err
		}
		for _, w := range vwc.Webhooks {
			if !bytes.Equal(w.ClientConfig.CABundle, sec.Data["ca.crt"]) {
				return fmt.Errorf("webhook %s has no caBundle", w.Name)
			}
		}
		var lease coordinationv1.Lease
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "axon-controller.axon.dev"}, &lease); err != nil {
			return fmt.Errorf("leader Lease: %w", err)
		}
		return nil
	})
	// Its webhook serves the certificate it made, which a client trusting
	// only the caBundle accepts for the Service's name, as the API server
	// would.
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := k8s.Get(ctx, client.ObjectKey{Name: "axon-validating-webhook"}, &vwc); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(vwc.Webhooks[0].ClientConfig.CABundle)
	eventually(t, 30*time.Second, "webhook TLS with the caBundle", func() error {
		conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port), &tls.Config{RootCAs: pool, ServerName: "axon-webhook.axon-system.svc"})
		if err != nil {
			return err
		}
		return conn.Close()
	})
	if s := logs.String(); strings.Contains(s, "forbidden") {
		t.Errorf("the controller was refused a request (RBAC too narrow):\n%s", s)
	}
}

// controllerArgs returns the controller Deployment's container args.
func controllerArgs(t *testing.T, objs []*unstructured.Unstructured) []string {
	t.Helper()
	c := containerOf(t, find(objs, "Deployment", "axon-controller"))
	var out []string
	for _, a := range c["args"].([]any) {
		out = append(out, a.(string))
	}
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// eventually retries f until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
