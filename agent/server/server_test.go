package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "axon_test_gauge", Help: "h"})
	reg.MustRegister(g)
	var ready atomic.Bool
	h := Handler(reg, func() error {
		if !ready.Load() {
			return errors.New("programs not attached")
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, _, err := Serve(ctx, "127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + addr.String()
	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d, want 200", code)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "programs not attached") {
		t.Errorf("/readyz before ready = %d %q, want 503 with the reason", code, body)
	}
	ready.Store(true)
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz when ready = %d, want 200", code)
	}
	if code, body := get(t, base+"/metrics"); code != 200 || !strings.Contains(body, "axon_test_gauge 0") {
		t.Errorf("/metrics = %d, missing the registered gauge:\n%s", code, body)
	}
}

func TestServeBadAddress(t *testing.T) {
	if _, _, err := Serve(context.Background(), "256.0.0.1:1", http.NotFoundHandler()); err == nil {
		t.Error("Serve accepted an invalid address")
	}
}
