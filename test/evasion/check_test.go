package evasion

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// token returns a unique marker to put into one request.
func token(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// logged reports whether some line of the server's own log contains marker.
func logged(s server, marker string) bool {
	for _, l := range s.Log() {
		if strings.Contains(l, marker) {
			return true
		}
	}
	return false
}

// expectArrived waits up to 2 s for marker in the server's log: the allowed
// control request (or legitimate traffic) must reach the server.
func expectArrived(t *testing.T, s server, marker, what string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !logged(s, marker) {
		if time.Now().After(deadline) {
			t.Errorf("%s: %s never reached the server (marker %q); server log:\n%s", s.Name(), what, marker, strings.Join(s.Log(), "\n"))
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// expectNever checks, after a grace period for the server to log, that
// marker is not in the server's log: the denied request never arrived.
func expectNever(t *testing.T, s server, marker, what string) {
	t.Helper()
	time.Sleep(150 * time.Millisecond) // callers have already waited for an answer
	var hits []string
	for _, l := range s.Log() {
		if strings.Contains(l, marker) {
			hits = append(hits, l)
		}
	}
	if len(hits) > 0 {
		t.Errorf("LEAK %s: %s reached the server; server log shows %q", s.Name(), what, hits)
	}
}

// expectNeverRun is expectNever for a request whose line the datapath
// resets before it is complete: nginx logs the start of a request line it
// held when the connection ends, with status 400, although nothing ran.
// Any other log line with the marker (a status other than 400, or another
// server's log, where only requests that ran are logged) is a leak.
func expectNeverRun(t *testing.T, s server, marker, what string) {
	t.Helper()
	time.Sleep(150 * time.Millisecond)
	var hits []string
	for _, l := range s.Log() {
		if strings.Contains(l, marker) && !(s.Name() == "nginx" && strings.HasSuffix(strings.TrimSpace(l), "\" 400")) {
			hits = append(hits, l)
		}
	}
	if len(hits) > 0 {
		t.Errorf("LEAK %s: %s ran on the server; server log shows %q", s.Name(), what, hits)
	}
}

// curl runs curl in h and names the outcome: the HTTP status, "reset",
// "timeout", "closed" or "error: ...".
func curl(t *testing.T, h *netns.Host, url string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := h.Curl(ctx, append(args, "--max-time", "5", url)...)
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	if res.ExitCode == 0 {
		return fmt.Sprint(res.Status)
	}
	switch {
	case res.ExitCode == 56 && strings.Contains(strings.ToLower(res.Output), "connection reset by peer"):
		return "reset"
	case res.ExitCode == 28:
		return "timeout"
	case res.ExitCode == 52:
		return "closed"
	}
	return fmt.Sprintf("error: curl exit %d: %s", res.ExitCode, strings.TrimSpace(res.Output))
}

// exchange sends raw request bytes from h to addr in one write and returns
// what came back within wait (up to the server closing or resetting) and
// the read error, if any.
func exchange(t *testing.T, h *netns.Host, addr string, req string, wait time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		return "", err
	}
	return readAll(c, wait)
}

// readAll reads from c until EOF, an error, wait has passed, or a response
// head has arrived and nothing more came for 50 ms.
func readAll(c net.Conn, wait time.Duration) (string, error) {
	deadline := time.Now().Add(wait)
	var got []byte
	buf := make([]byte, 4096)
	for {
		d := deadline
		if strings.Contains(string(got), "\r\n\r\n") {
			d = time.Now().Add(50 * time.Millisecond)
			if d.After(deadline) {
				d = deadline
			}
		}
		_ = c.SetReadDeadline(d)
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				err = nil
			}
			return string(got), err
		}
	}
}
