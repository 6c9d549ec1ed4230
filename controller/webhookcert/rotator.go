package webhookcert

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// Keys of the Secret besides tls.crt and tls.key.
const (
	KeyCA         = "ca.crt"
	keyCAKey      = "ca.key"
	keyCAPrevious = "ca-previous.crt"
)

// RBAC of these (scripts/gen-crds.sh writes config/rbac from it).
//
// +kubebuilder:rbac:groups="",namespace=axon-system,resources=secrets,verbs=create
// +kubebuilder:rbac:groups="",namespace=axon-system,resources=secrets,resourceNames=axon-webhook-tls,verbs=get;update
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,resourceNames=axon-validating-webhook,verbs=get;update

// Rotator keeps the webhook's Secret and caBundle. It is a manager
// Runnable that runs on the leader only.
//
// RBAC it needs (config/rbac/role.yaml, from the markers above): create
// secrets and get, update the one Secret in its namespace; get, update the
// one ValidatingWebhookConfiguration.
type Rotator struct {
	// Reader reads the Secret and the webhook configuration uncached (a
	// cache would watch every Secret of the namespace); Writer writes them.
	Reader client.Reader
	Writer client.Client
	// Namespace and SecretName of the Secret the webhook mounts.
	Namespace, SecretName string
	// ServiceName of the webhook's Service in Namespace; the certificate
	// names it.
	ServiceName string
	// WebhookConfigName is the ValidatingWebhookConfiguration whose
	// webhooks get the caBundle.
	WebhookConfigName string
	// Interval between checks; default 5 minutes.
	Interval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// NeedLeaderElection makes the manager run the rotator on the leader only.
func (r *Rotator) NeedLeaderElection() bool { return true }

// Start checks at once, then every Interval, until ctx is done; a failed
// check is retried after 10 s.
func (r *Rotator) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("webhookcert")
	interval := r.Interval
	if interval == 0 {
		interval = 5 * time.Minute
	}
	for {
		next := interval
		if changed, err := r.Ensure(ctx); err != nil {
			log.Error(err, "webhook certificate")
			next = 10 * time.Second
		} else if changed {
			log.Info("webhook certificate or caBundle written", "secret", r.Namespace+"/"+r.SecretName)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(next):
		}
	}
}

// DNSNames are the names the serving certificate carries.
func (r *Rotator) DNSNames() []string {
	s, ns := r.ServiceName, r.Namespace
	return []string{s + "." + ns + ".svc", s + "." + ns + ".svc.cluster.local", s + "." + ns, s}
}

// Ensure makes the Secret hold a valid CA and serving certificate and the
// webhook configuration trust the CA. It writes only what is missing,
// invalid or close to expiry, and says whether it wrote anything.
func (r *Rotator) Ensure(ctx context.Context) (bool, error) {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	var sec corev1.Secret
	key := client.ObjectKey{Namespace: r.Namespace, Name: r.SecretName}
	exists := true
	if err := r.Reader.Get(ctx, key, &sec); apierrors.IsNotFound(err) {
		exists = false
		sec = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: r.Namespace, Name: r.SecretName,
				Labels: map[string]string{"app.kubernetes.io/part-of": "axon", "app.kubernetes.io/managed-by": "axon-controller"}},
			Type: corev1.SecretTypeTLS,
		}
	} else if err != nil {
		return false, fmt.Errorf("reading secret %s: %w", key, err)
	}
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	ca, _ := parseKeyPair(sec.Data[KeyCA], sec.Data[keyCAKey])
	leaf, _ := parseKeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	names := r.DNSNames()
	write := false
	var err error
	if !caValid(ca, now) {
		if ca != nil {
			sec.Data[keyCAPrevious] = ca.certPEM
		}
		if ca, err = newCA(now); err != nil {
			return false, err
		}
		sec.Data[KeyCA], sec.Data[keyCAKey] = ca.certPEM, ca.keyPEM
		leaf, write = nil, true
	}
	if !servingValid(leaf, ca, names, now) {
		if leaf, err = newServing(ca, names, now); err != nil {
			return false, err
		}
		sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey] = leaf.certPEM, leaf.keyPEM
		write = true
	}
	if write {
		if exists {
			err = r.Writer.Update(ctx, &sec)
		} else {
			err = r.Writer.Create(ctx, &sec)
		}
		if err != nil {
			return false, fmt.Errorf("writing secret %s: %w", key, err)
		}
	}
	wrote, err := r.inject(ctx, bundle(ca, sec.Data[keyCAPrevious], now))
	return write || wrote, err
}

// inject writes caBundle into every webhook of the configuration.
func (r *Rotator) inject(ctx context.Context, caBundle []byte) (bool, error) {
	var vwc admissionregistrationv1.ValidatingWebhookConfiguration
	if err := r.Reader.Get(ctx, client.ObjectKey{Name: r.WebhookConfigName}, &vwc); err != nil {
		return false, fmt.Errorf("reading validatingwebhookconfiguration %s: %w", r.WebhookConfigName, err)
	}
	changed := false
	for i := range vwc.Webhooks {
		if !bytes.Equal(vwc.Webhooks[i].ClientConfig.CABundle, caBundle) {
			vwc.Webhooks[i].ClientConfig.CABundle = caBundle
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	if err := r.Writer.Update(ctx, &vwc); err != nil {
		return false, fmt.Errorf("writing caBundle of %s: %w", r.WebhookConfigName, err)
	}
	return true, nil
}

// WriteCertDir copies the Secret's tls.crt and tls.key into dir (where the
// webhook server's certwatcher reads them) when they differ, each by an
// atomic rename; it says whether it wrote. Every replica serving the
// webhook runs it: the Secret is read by name, never watched.
func (r *Rotator) WriteCertDir(ctx context.Context, dir string) (bool, error) {
	var sec corev1.Secret
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.SecretName}, &sec); err != nil {
		return false, fmt.Errorf("reading secret %s/%s: %w", r.Namespace, r.SecretName, err)
	}
	crt, key := sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey]
	if len(crt) == 0 || len(key) == 0 {
		return false, fmt.Errorf("secret %s/%s has no certificate yet", r.Namespace, r.SecretName)
	}
	wrote := false
	// The key first: a certwatcher that sees the new certificate finds
	// its key already there.
	for _, f := range []struct {
		name string
		data []byte
	}{{corev1.TLSPrivateKeyKey, key}, {corev1.TLSCertKey, crt}} {
		p := filepath.Join(dir, f.name)
		if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, f.data) {
			continue
		}
		if err := os.WriteFile(p+".tmp", f.data, 0o600); err != nil {
			return wrote, fmt.Errorf("writing %s: %w", p, err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			return wrote, fmt.Errorf("writing %s: %w", p, err)
		}
		wrote = true
	}
	return wrote, nil
}

// CertDirSync keeps a replica's webhook certificate files equal to the
// Secret (WriteCertDir every Interval, default 30 s). It runs on every
// replica, leader or not.
type CertDirSync struct {
	Rotator  *Rotator
	Dir      string
	Interval time.Duration
}

// NeedLeaderElection is false: every replica serves the webhook.
func (s *CertDirSync) NeedLeaderElection() bool { return false }

// Start copies at once, then every Interval, until ctx is done.
func (s *CertDirSync) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("webhookcert")
	interval := s.Interval
	if interval == 0 {
		interval = 30 * time.Second
	}
	for {
		if wrote, err := s.Rotator.WriteCertDir(ctx, s.Dir); err != nil {
			log.Error(err, "webhook certificate files")
		} else if wrote {
			log.Info("webhook certificate files updated", "dir", s.Dir)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(interval):
		}
	}
}

// Bootstrap makes sure the Secret exists and its files are in dir before
// the webhook server starts (it cannot start without them): Ensure, then
// WriteCertDir, retried until timeout. Several replicas may run it at once:
// the API server's optimistic concurrency makes all but one write fail, and
// their retry finds the Secret made.
func (r *Rotator) Bootstrap(ctx context.Context, dir string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := r.Ensure(ctx)
		if err == nil {
			_, err = r.WriteCertDir(ctx, dir)
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook certificate: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
