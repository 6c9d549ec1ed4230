package webhookcert_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/controller/webhookcert"
)

// setup creates a namespace and a ValidatingWebhookConfiguration (two
// webhooks, no caBundle, failurePolicy Ignore so that it stops nothing)
// and returns a rotator for them.
func setup(t *testing.T, name string, clock *time.Time) *webhookcert.Rotator {
	t.Helper()
	ctx := t.Context()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	hook := func(n string) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name:                    n + ".axon.dev",
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{Service: &admissionregistrationv1.ServiceReference{Namespace: name, Name: "axon-webhook", Path: ptr.To("/" + n)}},
			Rules:                   []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{"CREATE"}, Rule: admissionregistrationv1.Rule{APIGroups: []string{"axon.dev"}, APIVersions: []string{"v1alpha1"}, Resources: []string{n}}}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		}
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{hook("l7networkpolicies"), hook("httpmonitors")},
	}
	if err := k8s.Create(ctx, vwc); err != nil {
		t.Fatal(err)
	}
	return &webhookcert.Rotator{
		Reader: k8s, Writer: k8s,
		Namespace: name, SecretName: "axon-webhook-tls", ServiceName: "axon-webhook", WebhookConfigName: name,
		Now: func() time.Time { return *clock },
	}
}

func state(t *testing.T, r *webhookcert.Rotator) (*corev1.Secret, *admissionregistrationv1.ValidatingWebhookConfiguration) {
	t.Helper()
	var sec corev1.Secret
	if err := k8s.Get(t.Context(), client.ObjectKey{Namespace: r.Namespace, Name: r.SecretName}, &sec); err != nil {
		t.Fatal(err)
	}
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := k8s.Get(t.Context(), client.ObjectKey{Name: r.WebhookConfigName}, &vwc); err != nil {
		t.Fatal(err)
	}
	return &sec, &vwc
}

func ensure(t *testing.T, r *webhookcert.Rotator, wantChanged bool) {
	t.Helper()
	changed, err := r.Ensure(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if changed != wantChanged {
		t.Fatalf("Ensure changed = %v, want %v", changed, wantChanged)
	}
}

// handshake serves the Secret's certificate over real TLS and connects as
// the API server does: trusting only the webhook's caBundle and checking
// the Service's DNS name, at the given time.
func handshake(t *testing.T, sec *corev1.Secret, caBundle []byte, serverName string, at time.Time) error {
	t.Helper()
	cert, err := tls.X509KeyPair(sec.Data["tls.crt"], sec.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caBundle) {
		t.Fatal("caBundle holds no certificate")
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(),
		&tls.Config{RootCAs: pool, ServerName: serverName, Time: func() time.Time { return at }})
	if err == nil {
		conn.Close()
	}
	return err
}

func certsIn(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return out
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
}

// A fresh install: the Secret is created, every webhook trusts its CA, a
// TLS client that trusts only the caBundle accepts the served certificate
// for the Service's name (and refuses it for another), and a second check
// writes nothing.
func TestEnsureCreatesAndInjects(t *testing.T) {
	requireAPI(t)
	now := time.Now()
	r := setup(t, "wc-fresh", &now)
	ensure(t, r, true)
	sec, vwc := state(t, r)
	if sec.Type != corev1.SecretTypeTLS {
		t.Errorf("secret type %s", sec.Type)
	}
	for _, w := range vwc.Webhooks {
		if string(w.ClientConfig.CABundle) != string(sec.Data["ca.crt"]) {
			t.Errorf("webhook %s caBundle is not the Secret's CA", w.Name)
		}
	}
	if err := handshake(t, sec, vwc.Webhooks[0].ClientConfig.CABundle, "axon-webhook.wc-fresh.svc", now); err != nil {
		t.Errorf("TLS to axon-webhook.wc-fresh.svc with the caBundle: %v", err)
	}
	if err := handshake(t, sec, vwc.Webhooks[0].ClientConfig.CABundle, "other.wc-fresh.svc", now); err == nil {
		t.Error("the certificate is accepted for another Service's name")
	}
	ensure(t, r, false)
	sec2, vwc2 := state(t, r)
	if sec2.ResourceVersion != sec.ResourceVersion || vwc2.ResourceVersion != vwc.ResourceVersion {
		t.Error("a second Ensure wrote the Secret or the webhook configuration")
	}
}

// Thirty days before the serving certificate expires it is renewed under
// the same CA: the caBundle does not change.
func TestEnsureRenewsServingCertificate(t *testing.T) {
	requireAPI(t)
	now := time.Now()
	r := setup(t, "wc-renew", &now)
	ensure(t, r, true)
	sec, vwc := state(t, r)
	now = now.Add(340 * 24 * time.Hour)
	ensure(t, r, true)
	sec2, vwc2 := state(t, r)
	if string(sec2.Data["tls.crt"]) == string(sec.Data["tls.crt"]) {
		t.Fatal("serving certificate not renewed 25 days before expiry")
	}
	if string(sec2.Data["ca.crt"]) != string(sec.Data["ca.crt"]) || vwc2.ResourceVersion != vwc.ResourceVersion {
		t.Error("renewing the serving certificate replaced the CA or rewrote the caBundle")
	}
	if err := handshake(t, sec2, vwc2.Webhooks[0].ClientConfig.CABundle, "axon-webhook.wc-renew.svc", now.Add(300*24*time.Hour)); err != nil {
		t.Errorf("renewed certificate, 300 days later: %v", err)
	}
}

// A year before the CA expires it is replaced; the caBundle trusts the new
// and the old CA, so that the webhook pod, still serving the old
// certificate until the kubelet updates its volume, stays trusted.
func TestEnsureRotatesCA(t *testing.T) {
	requireAPI(t)
	now := time.Now()
	r := setup(t, "wc-ca", &now)
	ensure(t, r, true)
	sec, _ := state(t, r)
	now = now.Add(9*365*24*time.Hour + 100*24*time.Hour)
	ensure(t, r, true)
	sec2, vwc2 := state(t, r)
	if string(sec2.Data["ca.crt"]) == string(sec.Data["ca.crt"]) {
		t.Fatal("CA not replaced a year before expiry")
	}
	got := certsIn(t, vwc2.Webhooks[0].ClientConfig.CABundle)
	old := certsIn(t, sec.Data["ca.crt"])[0]
	if len(got) != 2 || !got[1].Equal(old) {
		t.Fatalf("caBundle has %d certificates, want the new CA then the old one", len(got))
	}
	if err := handshake(t, sec2, vwc2.Webhooks[1].ClientConfig.CABundle, "axon-webhook.wc-ca.svc", now); err != nil {
		t.Errorf("new certificate with the bundle: %v", err)
	}
	// The old serving certificate (signed by the old CA) still verifies
	// against the bundle on its last valid day.
	if err := handshake(t, sec, vwc2.Webhooks[1].ClientConfig.CABundle, "axon-webhook.wc-ca.svc", time.Now().Add(364*24*time.Hour)); err != nil {
		t.Errorf("old certificate with the bundle during the rotation: %v", err)
	}
}

// A Secret whose certificate was tampered with or names another Service,
// or a caBundle someone reset, is repaired.
func TestEnsureRepairs(t *testing.T) {
	requireAPI(t)
	now := time.Now()
	r := setup(t, "wc-repair", &now)
	ensure(t, r, true)
	sec, vwc := state(t, r)
	sec.Data["tls.crt"] = []byte("garbage")
	if err := k8s.Update(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
	vwc.Webhooks[1].ClientConfig.CABundle = nil
	if err := k8s.Update(t.Context(), vwc); err != nil {
		t.Fatal(err)
	}
	ensure(t, r, true)
	sec, vwc = state(t, r)
	for _, w := range vwc.Webhooks {
		if err := handshake(t, sec, w.ClientConfig.CABundle, "axon-webhook.wc-repair.svc", now); err != nil {
			t.Errorf("webhook %s after repair: %v", w.Name, err)
		}
	}
	r.ServiceName = "axon-webhook-v2"
	ensure(t, r, true)
	sec, vwc = state(t, r)
	if err := handshake(t, sec, vwc.Webhooks[0].ClientConfig.CABundle, "axon-webhook-v2.wc-repair.svc", now); err != nil {
		t.Errorf("after a Service rename: %v", err)
	}
}

// A replica's certificate files follow the Secret: Bootstrap writes them
// before the webhook server starts, WriteCertDir rewrites them after a
// renewal and leaves them alone otherwise.
func TestCertDirFollowsSecret(t *testing.T) {
	requireAPI(t)
	now := time.Now()
	r := setup(t, "wc-dir", &now)
	dir := t.TempDir()
	if err := r.Bootstrap(t.Context(), dir, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	sec, _ := state(t, r)
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if string(read("tls.crt")) != string(sec.Data["tls.crt"]) || string(read("tls.key")) != string(sec.Data["tls.key"]) {
		t.Fatal("Bootstrap did not write the Secret's files")
	}
	if wrote, err := r.WriteCertDir(t.Context(), dir); err != nil || wrote {
		t.Fatalf("WriteCertDir without a change: wrote=%v err=%v", wrote, err)
	}
	now = now.Add(340 * 24 * time.Hour)
	ensure(t, r, true)
	if wrote, err := r.WriteCertDir(t.Context(), dir); err != nil || !wrote {
		t.Fatalf("WriteCertDir after a renewal: wrote=%v err=%v", wrote, err)
	}
	sec, _ = state(t, r)
	if _, err := tls.X509KeyPair(read("tls.crt"), read("tls.key")); err != nil || string(read("tls.crt")) != string(sec.Data["tls.crt"]) {
		t.Fatalf("files after renewal are not the new pair: %v", err)
	}
}
