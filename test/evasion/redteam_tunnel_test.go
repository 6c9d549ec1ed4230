package evasion

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"
)

// TestRedteamAuditTunnelSurvivesEnforce: class 22 again, for the
// WebSocket tunnel. On an Audit-only endpoint a WebSocket upgrade that
// Enforce would deny is counted (audit_deny) and passes; the server's 101
// turns the flow into a tunnel (AX_ST_TUNNEL), which the datapath passes
// unparsed, whatever the endpoint's mode. After the switch to Enforce, the
// tunnel keeps carrying what the attacker sends to the application, on a
// connection whose only request the enforced policy denies: the datapath
// cannot decide it, and it passes (class 22 refuses the same for a stream
// Audit gave up parsing, AX_ST_PASS).
//
// Policy: the base rules plus "Deny prefix /api/v1/ws", Audit, then
// Enforce. During Audit: "GET /api/v1/ws" with Upgrade: websocket (the
// harness's Go server answers 101 and echoes frames, logging each one as
// "ws-frame PAYLOAD"), one frame echoed. After Enforce: a frame carrying
// "GET /api/admin/<tok>" reaches the handler. A new upgrade is reset.
func TestRedteamAuditTunnelSurvivesEnforce(t *testing.T) {
	t.Parallel()
	tp := newTopo95(t, 2)
	deny := `  - action: Deny
    http:
    - paths:
      - prefix: /api/v1/ws
`
	tp.policy("Audit", deny)
	srvs := tp.servers("go")
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	c, head, err := wsOpen(tp)
	must(t, err)
	defer c.Close()
	if !strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Fatalf("upgrade during Audit: got %q, want 101 (Audit never breaks traffic)", head)
	}
	if got, err := wsEcho(c, "during-audit"); err != nil {
		t.Fatalf("a frame during Audit: %q (%v)", got, err)
	}
	tp.policy("Enforce", deny)
	waitGeneration(t, a, 2, 10*time.Second)
	s := srvs[0]
	// Control: a new upgrade is denied.
	g, head, err := wsOpen(tp)
	if err == nil {
		g.Close()
	}
	if strings.HasPrefix(head, "HTTP/1.1 101") {
		t.Errorf("a WebSocket upgrade after the switch to Enforce: got 101, want a reset")
	}
	tok := token("tunnel")
	msg := "GET /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\n\r\n"
	got, err := wsEcho(c, msg)
	expectNever(t, s, tok, "a frame in a tunnel opened during Audit, after the switch to Enforce (echo "+
		firstLine(string(got), err)+")")
}

// wsOpen opens a connection from the client pod to the Go server and sends
// a WebSocket upgrade for /api/v1/ws; it returns what came back first (an
// error only when the connection or the write failed).
func wsOpen(tp *topo) (net.Conn, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := tp.cli.DialContext(ctx, "tcp", tp.srvAddr(goPort))
	if err != nil {
		return nil, "", err
	}
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	if _, err := c.Write([]byte("GET /api/v1/ws HTTP/1.1\r\nHost: srv\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n")); err != nil {
		c.Close()
		return nil, "", err
	}
	head, _ := readAll(c, time.Second) // a timeout after the head is the usual end
	return c, head, nil
}

// wsEcho sends msg in a masked text frame and reads the server's echo.
func wsEcho(c net.Conn, msg string) ([]byte, error) {
	mask := make([]byte, 4)
	_, _ = rand.Read(mask)
	if _, err := c.Write(wsFrame(1, []byte(msg), mask)); err != nil {
		return nil, err
	}
	want := wsFrame(1, []byte(msg), nil)
	got, err := readN(c, len(want), time.Second)
	if err == nil && !bytes.Equal(got, want) {
		return got, net.UnknownNetworkError("echo differs")
	}
	return got, err
}
