package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/test/apiserver"
	"github.com/axon-dev/axon/webhook"
)

// The binary's serve against a real API server, with leader election on:
// it takes the Lease, serves the webhook (a bad glob is refused), writes a
// policy's status (Accepted True, Enforced NoPods), answers /healthz and
// /readyz, and its /metrics has controller-runtime's and its own series.
func TestServeAgainstARealAPIServer(t *testing.T) {
	env, cfg, kubeconfig := apiserver.StartWithWebhook(t)

	wo := &env.WebhookInstallOptions
	o := options{
		kubeconfig:      kubeconfig,
		metricsAddr:     freeAddr(t),
		healthAddr:      freeAddr(t),
		leaderElect:     true,
		leaderNamespace: "default",
		webhookHost:     wo.LocalServingHost,
		webhookPort:     wo.LocalServingPort,
		certDir:         wo.LocalServingCertDir,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30 s of its context")
		}
	}()
	apiserver.WaitWebhook(t, env)
	p := apiserver.CheckWebhookAdmission(t, ctx, cfg)
	scheme, err := webhook.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	// The reconcilers run once the Lease is taken.
	for start := time.Now(); ; time.Sleep(100 * time.Millisecond) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
			t.Fatal(err)
		}
		if meta.IsStatusConditionTrue(p.Status.Conditions, v1alpha1.ConditionAccepted) &&
			meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionEnforced) != nil {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("no status after 60 s: %+v", p.Status)
		}
	}
	if e := meta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionEnforced); e.Reason != v1alpha1.ReasonNoPods || p.Status.Nodes != "0/0" {
		t.Errorf("Enforced %+v, nodes %q", e, p.Status.Nodes)
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		if body := get(t, "http://"+o.healthAddr+path); body != "ok" {
			t.Errorf("%s: %q", path, body)
		}
	}
	metrics := get(t, "http://"+o.metricsAddr+"/metrics")
	for _, want := range []string{
		`axon_controller_policy_status_writes_total{result="ok"}`,
		"axon_controller_policy_validations_total",
		`controller_runtime_reconcile_total{controller="policystatus"`,
		"leader_election_master_status",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
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
