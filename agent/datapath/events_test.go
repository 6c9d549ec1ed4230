package datapath

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func readEvent(t *testing.T, r *EventReader) Event {
	t.Helper()
	r.SetDeadline(time.Now().Add(time.Second))
	e, err := r.Read()
	if err != nil {
		t.Fatalf("reading event: %v", err)
	}
	return e
}

// TestEvents: deny and audit_deny decisions come out of the ring buffer with
// source, destination, method, path, rule and reason; allowed ones do not.
func TestEvents(t *testing.T) {
	d := sharedTest(t)
	tab := fixtureTable(t)
	if err := d.Apply(tab); err != nil {
		t.Fatal(err)
	}
	r, err := d.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for { // events of earlier tests
		r.SetDeadline(time.Now().Add(10 * time.Millisecond))
		if _, err := r.Read(); err != nil {
			break
		}
	}

	f := newFlow(t, d.Ingress(), web4, orders4)
	f.send(okReq)
	f.send(adminReq)
	e := readEvent(t, r)
	want := Event{Verdict: VerdictDeny, Reason: ReasonPolicy, Rule: ruleID(t, tab, "admin-deny", 0),
		Src: f.src, Dst: orders4, Method: "GET", Path: "/api/v1/admin", PathLen: len("/api/v1/admin")}
	e.Time, e.Endpoint, e.Identity = 0, 0, 0
	if e != want {
		t.Fatalf("deny event %+v, want %+v", e, want)
	}

	g := newFlow(t, d.Ingress(), world, legacy)
	g.send("GET /nope/x HTTP/1.1\r\n\r\n")
	e = readEvent(t, r)
	if e.Verdict != VerdictAuditDeny || e.Rule != ruleID(t, tab, "legacy-audit", -1) || e.Path != "/nope/x" || e.Src != g.src {
		t.Fatalf("audit event %+v", e)
	}

	h := newFlow(t, d.Ingress(), web4, orders4)
	h.send("GET /api/v1/%2e%2e/x HTTP/1.1\r\n\r\n")
	e = readEvent(t, r)
	if e.Verdict != VerdictDeny || e.Reason != ReasonNonCanonical || e.Rule != 0 || e.Path != "/api/v1/%2E%2E/x" { // escapes as stored: hex upper-cased
		t.Fatalf("non-canonical event %+v", e)
	}

	k := newFlow(t, d.Ingress(), web4, orders4)
	k.send("\x16\x03\x01\x00")
	e = readEvent(t, r)
	if e.Verdict != VerdictDeny || e.Reason != ReasonNotHTTP {
		t.Fatalf("not-http event %+v", e)
	}

	r.SetDeadline(time.Now().Add(50 * time.Millisecond))
	if e, err := r.Read(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an event nobody caused: %+v %v", e, err)
	}
}

// TestEventRateLimit: beyond the per-CPU rate, events are counted as
// rate-limited instead of sent, and decisions are unaffected.
func TestEventRateLimit(t *testing.T) {
	const rate, sent = 2, 20
	d := openTest(t, WithEventRate(rate))
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	r, err := d.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for i := 0; i < sent; i++ {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send(adminReq); o != reset {
			t.Fatalf("deny %d: %v", i, o)
		}
	}
	got := 0
	for {
		r.SetDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := r.Read(); err != nil {
			break
		}
		got++
	}
	c, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	limited := int(c.Reasons["event_rate_limited"])
	if got == 0 || got > rate*runtime.NumCPU()+1 || got+limited != sent {
		t.Fatalf("%d events sent and %d rate-limited for %d denies at %d/s per CPU", got, limited, sent, rate)
	}
}
