package webhook_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// servedCert returns the leaf certificate the webhook server presents now.
func servedCert(t *testing.T) []byte {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 2 * time.Second}, "tcp", tlsAddr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Raw
}

// writePair replaces tls.crt and tls.key in dir the way a Secret volume
// update does: new files renamed into place.
func writePair(t *testing.T, dir string, crt, key []byte) {
	t.Helper()
	for name, b := range map[string][]byte{"tls.key": key, "tls.crt": crt} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
}

func waitServed(t *testing.T, want []byte) time.Duration {
	t.Helper()
	start := time.Now()
	for !bytes.Equal(servedCert(t), want) {
		if time.Since(start) > 30*time.Second {
			t.Fatal("the webhook server still presents the old certificate after 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start)
}

// The serving certificate is reloaded when the files in the certificate
// directory change (a rotated Secret), without a restart. The original pair
// is put back, so the API server (which trusts only it) can still call the
// webhook in later tests.
func TestServingCertificateIsReloaded(t *testing.T) {
	requireAPI(t)
	origCrt, err := os.ReadFile(filepath.Join(certDir, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	origKey, err := os.ReadFile(filepath.Join(certDir, "tls.key"))
	if err != nil {
		t.Fatal(err)
	}
	origDER, _ := pem.Decode(origCrt)
	if origDER == nil || !bytes.Equal(servedCert(t), origDER.Bytes) {
		t.Fatal("the server does not present the certificate of its directory")
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "axon-webhook-rotated"},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		writePair(t, certDir, origCrt, origKey)
		waitServed(t, origDER.Bytes)
	})
	writePair(t, certDir, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	t.Logf("new certificate served %s after the files changed", waitServed(t, der).Round(time.Millisecond))
}
