package datapath

import "testing"

// TestReplyUpgradeNeedsWebSocketHeader: after an allowed "Upgrade:
// websocket" as a connection's first request, the reply program turns the
// flow into an unparsed tunnel only when the server's first segment is a
// 101 whose head says "Upgrade: websocket" (case-insensitive, optional
// whitespace). A bare 101 (Go's net/http sends a handler's WriteHeader(101)
// as a final response and keeps reading HTTP: class 30), a 101 naming
// another protocol, or one whose Upgrade line is not in the first segment
// leaves the stream HTTP: a denied request after it is reset.
func TestReplyUpgradeNeedsWebSocketHeader(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	const upgrade = "GET /api/v1/items HTTP/1.1\r\nHost: orders\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
	cases := []struct {
		name, head string
		tunnel     bool
	}{
		{"WebSocket 101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n\r\n", true},
		{"header case and whitespace", "HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUPGRADE:\t WebSocket\r\n\r\n", true},
		{"bare LF", "HTTP/1.1 101 Switching Protocols\nUpgrade:websocket\n\n", true},
		{"bare 101 (Go WriteHeader(101))", "HTTP/1.1 101 Switching Protocols\r\nDate: Wed, 02 Dec 2026 05:12:30 GMT\r\n\r\n", false},
		{"101 to h2c", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", false},
		{"Upgrade: websocketx", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocketx\r\n\r\n", false},
		{"Upgrade after the head", "HTTP/1.1 101 Switching Protocols\r\n\r\nUpgrade: websocket\r\n", false},
		{"X-Upgrade", "HTTP/1.1 101 Switching Protocols\r\nX-Upgrade: websocket\r\n\r\n", false},
		{"head cut before the Upgrade line", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: webs", false},
		{"200", "HTTP/1.1 200 OK\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFlow(t, d.Ingress(), web4, orders4)
			if o := f.send(upgrade); o != passed {
				t.Fatalf("the upgrade: %v, want passed", o)
			}
			f.reply(f.ack, f.seq, tcpACK|tcpPSH, c.head)
			want := reset
			if c.tunnel {
				want = passed
			}
			if o := f.send(adminReq); o != want {
				t.Errorf("a denied request after %q: %v, want %v", c.head, o, want)
			}
		})
	}
}
