package apiserver

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/webhook"
)

// StartWithWebhook starts an API server with the CRDs of crds/ and the
// ValidatingWebhookConfiguration of config/webhook installed (pointing at
// env.WebhookInstallOptions' local serving address), stopped when the test
// ends. It returns the environment, its client config and a kubeconfig file
// for a binary under test.
func StartWithWebhook(t *testing.T) (env *envtest.Environment, cfg *rest.Config, kubeconfig string) {
	t.Helper()
	dir, err := Assets()
	if err != nil {
		Require(t, "no etcd and kube-apiserver for envtest: "+err.Error())
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	env = &envtest.Environment{
		BinaryAssetsDirectory: dir,
		CRDDirectoryPaths:     []string{filepath.Join(root, "crds")},
		ErrorIfCRDPathMissing: true,
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join(root, "config", "webhook")}},
	}
	cfg, err = env.Start()
	if err != nil {
		t.Fatalf("starting envtest (CRDs from crds/, webhook from config/webhook): %v", err)
	}
	t.Cleanup(func() { _ = env.Stop() })

	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, kubeconfig); err != nil {
		t.Fatal(err)
	}
	return env, cfg, kubeconfig
}

// WaitWebhook waits up to 30 s for the webhook server of env to accept TLS
// connections.
func WaitWebhook(t *testing.T, env *envtest.Environment) {
	t.Helper()
	wo := &env.WebhookInstallOptions
	addr := net.JoinHostPort(wo.LocalServingHost, strconv.Itoa(wo.LocalServingPort))
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			return
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the webhook does not listen on %s: %v", addr, err)
		}
	}
}

// CheckWebhookAdmission creates, through the API server, a policy with a
// bad glob, which the webhook must refuse naming the field, then the same
// policy with a good glob, which it must admit; it returns that policy.
func CheckWebhookAdmission(t *testing.T, ctx context.Context, cfg *rest.Config) *v1alpha1.L7NetworkPolicy {
	t.Helper()
	scheme, err := webhook.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	p := &v1alpha1.L7NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: v1alpha1.L7NetworkPolicySpec{
			Ports: []v1alpha1.PortSpec{{Port: 80}},
			Rules: []v1alpha1.Rule{{HTTP: []v1alpha1.HTTPRule{{Paths: []v1alpha1.PathMatch{{Glob: "/v[12]/*"}}}}}},
		},
	}
	var cerr error
	for range 20 { // the first create after the CRD install may meet a 429 or 404
		if cerr = c.Create(ctx, p.DeepCopy()); cerr != nil && strings.Contains(cerr.Error(), "denied the request") {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if cerr == nil || !strings.Contains(cerr.Error(), "spec.rules[0].http[0].paths[0].glob") {
		t.Fatalf("bad glob: got %v", cerr)
	}
	p.Spec.Rules[0].HTTP[0].Paths[0].Glob = "/v1/*"
	if err := c.Create(ctx, p); err != nil {
		t.Fatalf("good policy refused: %v", err)
	}
	return p
}
