package stream

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func open(t *testing.T, srv *httptest.Server, query string) *bufio.Scanner {
	t.Helper()
	resp, err := http.Get(srv.URL + "/v1/events?" + query)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return bufio.NewScanner(resp.Body)
}

func next(t *testing.T, sc *bufio.Scanner) Event {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("stream ended: %v", sc.Err())
	}
	var e Event
	if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
		t.Fatalf("line %q: %v", sc.Text(), err)
	}
	return e
}

func waitSubs(t *testing.T, h *Hub, n int32) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); h.active.Load() != n; {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers, want %d", h.active.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFilters: each subscriber gets the events its query selects, as JSON
// lines, in order.
func TestFilters(t *testing.T) {
	h := NewHub(nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // after the streams' own cleanups
	deny := open(t, srv, "verdict=deny&namespace=shop")
	pod := open(t, srv, "pod=web-0&path=/api")
	waitSubs(t, h, 2)
	evs := []Event{
		{Type: TypeDecision, Verdict: "audit_deny", Namespace: "shop", Path: "/legacy", Source: &Peer{Pod: "web-0"}},
		{Type: TypeDecision, Verdict: "deny", Namespace: "shop", Path: "/admin", Source: &Peer{Pod: "batch-0"}},
		{Type: TypeDecision, Verdict: "deny", Namespace: "other", Path: "/admin"},
		{Type: TypeRequest, Status: 200, Path: "/api/orders/1", Destination: &Peer{Pod: "web-0"}},
		{Type: TypeDecision, Verdict: "deny", Path: "/api/x", Destination: &Peer{Namespace: "shop", Pod: "orders-0"}, Source: &Peer{Pod: "web-0"}},
	}
	for _, e := range evs {
		h.Publish(e)
	}
	for _, want := range []string{"/admin", "/api/x"} {
		if e := next(t, deny); e.Path != want || e.Verdict != "deny" {
			t.Errorf("verdict=deny&namespace=shop: got %+v, want path %s", e, want)
		}
	}
	for _, want := range []string{"/api/orders/1", "/api/x"} {
		if e := next(t, pod); e.Path != want {
			t.Errorf("pod=web-0&path=/api: got %+v, want path %s", e, want)
		}
	}
}

// TestSlowReader: a subscriber with a one-event buffer that cannot keep up
// misses events instead of blocking Publish, and is told exactly how many
// in-stream; the metric counts them too.
func TestSlowReader(t *testing.T) {
	missed := prometheus.NewCounter(prometheus.CounterOpts{Name: "m", Help: "h"})
	h := NewHub(missed)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // after the streams' own cleanups
	sc := open(t, srv, "buffer=1")
	waitSubs(t, h, 1)
	const n = 200000
	start := time.Now()
	for i := range n {
		h.Publish(Event{Type: TypeDecision, Verdict: "deny", Status: i + 1})
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("publishing took %v: blocked by the reader?", d)
	}
	h.Publish(Event{Type: TypeDecision, Verdict: "deny", Path: "/last"})
	// Every event arrives or is reported missed (within a second).
	var got, lost uint64
	for got+lost < n+1 {
		e := next(t, sc)
		if e.Type == TypeLost {
			lost += e.Missed
		} else {
			got++
		}
	}
	if got+lost != n+1 {
		t.Fatalf("received %d + missed %d, want %d", got, lost, n+1)
	}
	if lost == 0 {
		t.Fatal("nothing missed with a one-event buffer")
	}
	var m dto.Metric
	if err := missed.Write(&m); err != nil {
		t.Fatal(err)
	}
	if v := m.GetCounter().GetValue(); uint64(v) != lost {
		t.Errorf("metric %v, in-stream %d", v, lost)
	}
}
