package main

import (
	"context"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/apiserver"
)

// The binary's serve, pointed at a real API server by a kubeconfig file and
// at envtest's serving certificates by --cert-dir, refuses a bad policy and
// admits a good one; cancelling its context stops it.
func TestServeAgainstARealAPIServer(t *testing.T) {
	env, cfg, kubeconfig := apiserver.StartWithWebhook(t)

	wo := &env.WebhookInstallOptions
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, kubeconfig, wo.LocalServingCertDir, wo.LocalServingHost, wo.LocalServingPort, "0", "0")
	}()
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
	apiserver.CheckWebhookAdmission(t, ctx, cfg)
}
