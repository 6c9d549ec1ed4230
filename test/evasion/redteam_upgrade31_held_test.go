package evasion

import (
	"strings"
	"testing"
	"time"
)

// TestRedteamNodeUpgradeVariantsHeld (held, red team rt31): class 32's
// fix against upgrade spellings and framings Node's llhttp also takes as
// an upgrade, on Node and on HAProxy in front of Node: HTTP/1.0, Expect: 100-continue, "Content-Length: 0",
// "Connection: keep-alive, Upgrade" with "Upgrade: WebSocket", each
// followed (300 ms later, after Node's ordinary answer) by the open head of
// an allowed request and then the denied request. Node parses each later
// read from its start, as the datapath does; the denied request is reset
// (HAProxy needs Sec-WebSocket-Key to forward an upgrade at all).
func TestRedteamNodeUpgradeVariantsHeld(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.81", "fd81", 2)
	tp.policy("Enforce", "")
	nd := startNode(t, tp.srv, goPort, "")
	hp := startHAProxy(t, tp.srv, nginxPort, 9001)
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	heads := []struct{ name, head string }{
		{"http10", "GET /api/v1/%s HTTP/1.0\r\nHost: srv\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"expect", "GET /api/v1/%s HTTP/1.1\r\nHost: srv\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nExpect: 100-continue\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"cl0", "GET /api/v1/%s HTTP/1.1\r\nHost: srv\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
		{"case", "GET /api/v1/%s HTTP/1.1\r\nHost: srv\r\nconnection: keep-alive, UPGRADE\r\nUPGRADE: WebSocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"},
	}
	forServers(t, []server{nd, hp}, func(t *testing.T, nd server) {
		for _, c := range heads {
			t.Run(c.name, func(t *testing.T) {
				ok, hidden, bad := token("up"), token("hidden"), token("upbad")
				resp, err := exchangeN(t, tp, nd.Port(), strings.ReplaceAll(c.head, "%s", ok),
					"GET /api/v1/"+hidden+" HTTP/1.1\r\nX-Pad: ", "GET /api/admin/"+bad+" HTTP/1.1\r\nHost: srv\r\n\r\n")
				t.Logf("%s: %q (%v); agent: %s; log: %v", c.name, resp, err, metricsSummary(a), nd.Log())
				expectArrived(t, nd, ok, "the allowed upgrade request")
				expectNeverRun(t, nd, bad, "the denied request after an upgrade ("+c.name+")")
			})
		}
	})
}
