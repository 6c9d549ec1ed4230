package webhookcert

import (
	"bytes"
	"context"
	"fmt"
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

// Rotator keeps the webhook's Secret and caBundle. It is a manager
// Runnable that runs on the leader only.
//
// RBAC it needs (deploy/rbac/controller.yaml): get, create, update secrets
// in its namespace; get, update the one ValidatingWebhookConfiguration.
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
