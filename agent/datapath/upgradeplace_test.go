package datapath

import (
	"strings"
	"testing"
)

// TestWebSocketUpgradeOutOfPlace (class 32): an allowed "Upgrade:
// websocket" passes only as a connection's first request, without a body,
// with nothing behind it until the server answers. Node.js drops what it
// read with an upgrade request it runs as an ordinary one (no 'upgrade'
// listener), so bytes behind the upgrade would be parsed by Node from
// another byte than the datapath: a denied request hidden in a header value
// of a second request ran on Node. Refused, with upgrade_refused: bytes
// behind the upgrade in its segment, an upgrade later in a connection, and
// an upgrade with a body. Bytes in a later segment before the answer are
// dropped (upgrade_pending) and pass once the server answered with
// anything but a WebSocket 101.
func TestWebSocketUpgradeOutOfPlace(t *testing.T) {
	d := sharedTest(t)
	if err := d.Apply(fixtureTable(t)); err != nil {
		t.Fatal(err)
	}
	const upgrade = "GET /api/v1/items HTTP/1.1\r\nHost: orders\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
	hidden := "GET /api/v1/items HTTP/1.1\r\nX-Pad: "
	refused := []struct {
		name, first, data string // first: sent and passed before data
	}{
		{"a request behind the upgrade", "", upgrade + "\r\n" + hidden},
		{"an empty line behind the upgrade", "", upgrade + "\r\n\r\n"},
		{"one byte behind the upgrade", "", upgrade + "\r\nG"},
		{"the upgrade as the second request", okReq, upgrade + "\r\n"},
		{"the upgrade behind a request in its segment", "", okReq + upgrade + "\r\n"},
		{"an upgrade with a Content-Length body", "", "GET /api/v1/items HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 5\r\n\r\nhello"},
		{"an upgrade with a chunked body", "", "GET /api/v1/items HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
	}
	for _, c := range refused {
		t.Run(c.name, func(t *testing.T) {
			before, err := d.Counters()
			if err != nil {
				t.Fatal(err)
			}
			f := newFlow(t, d.Ingress(), web4, orders4)
			if c.first != "" {
				if o := f.send(c.first); o != passed {
					t.Fatalf("first request: %v, want passed", o)
				}
				f.reply(f.ack, f.seq, tcpACK|tcpPSH, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			}
			if o, out := f.sendAt(f.seq, c.data); o != reset {
				t.Fatalf("%q: %v, want reset", c.data, o)
			} else {
				checkServerRST(t, f, out)
			}
			after, err := d.Counters()
			if err != nil {
				t.Fatal(err)
			}
			if after.Reasons["upgrade_refused"] != before.Reasons["upgrade_refused"]+1 {
				t.Errorf("upgrade_refused: %d -> %d, want +1", before.Reasons["upgrade_refused"], after.Reasons["upgrade_refused"])
			}
		})
	}
	// The upgrade alone in its segment, the next bytes in their own: held
	// until the server's answer, then parsed as HTTP.
	for _, next := range []string{okReq, "G", "\r\n"} {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send(upgrade + "\r\n"); o != passed {
			t.Fatalf("the upgrade alone: %v, want passed", o)
		}
		if o, _ := f.sendAt(f.seq, next); o != dropped {
			t.Fatalf("%q before the answer: %v, want dropped", next, o)
		}
		f.reply(f.ack, f.seq, tcpACK|tcpPSH, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
		if o := f.send(next); o != passed {
			t.Fatalf("%q after the answer: %v, want passed", next, o)
		}
	}
	// Control: the upgrade whole, and a Content-Length of 0, pass.
	for _, req := range []string{upgrade + "\r\n", strings.Replace(upgrade, "Host", "Content-Length: 0\r\nHost", 1) + "\r\n"} {
		f := newFlow(t, d.Ingress(), web4, orders4)
		if o := f.send(req); o != passed {
			t.Fatalf("%q: %v, want passed", req, o)
		}
	}
}
