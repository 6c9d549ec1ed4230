package evasion

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Legitimate traffic 1: an allowed request whose 4.2 KB Cookie header
// arrives in one segment of more than 4096 bytes (MTU 9000 on the path)
// gets its 200.
func TestLegitLargeHeaders(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 20)
	for _, h := range []struct{ ns, dev string }{{tp.cli.NS, "eth0"}, {tp.srv.NS, "eth0"}} {
		tp.run(tp.cli, "ip", "-n", h.ns, "link", "set", h.dev, "mtu", "9000")
	}
	for _, port := range []string{tp.cli.Port, tp.srv.Port} {
		if out, err := exec.Command("ip", "link", "set", port, "mtu", "9000").CombinedOutput(); err != nil {
			t.Fatalf("raising the MTU of %s: %v: %s", port, err, out)
		}
	}
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	biggest := captureMax(t, tp.cli.Port)
	cookie := "session=" + strings.Repeat("c", 4200)
	forServers(t, srvs, func(t *testing.T, s server) {
		tok := token("/api/v1/big")
		if got := curl(t, tp.cli, "http://"+tp.srvAddr(s.Port())+tok, "-H", "Cookie: "+cookie); got != "200" {
			t.Errorf("allowed request with a 4.2 KB cookie: got %s, want 200", got)
		}
		expectArrived(t, s, tok, "the allowed request with a 4.2 KB cookie")
	})
	if n := biggest(); n <= 4096 {
		t.Errorf("largest client segment was %d bytes: the test did not send more than 4096 in one", n)
	} else {
		t.Logf("largest client segment: %d bytes of TCP payload", n)
	}
}

// captureMax records, from now until the returned function is called, the
// largest TCP payload of a frame the client sent into bridge port dev.
func captureMax(t *testing.T, dev string) func() int {
	t.Helper()
	ifi, err := net.InterfaceByName(dev)
	must(t, err)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	must(t, err)
	must(t, unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}))
	tv := unix.Timeval{Usec: 50_000}
	must(t, unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv))
	var stop atomic.Bool
	var biggest atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for !stop.Load() {
			n, from, err := unix.Recvfrom(fd, buf, 0)
			if err != nil {
				continue
			}
			if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
				continue // towards the client
			}
			if p, ok := ParseFrame(buf[:n]); ok && int64(len(p.Payload)) > biggest.Load() {
				biggest.Store(int64(len(p.Payload)))
			}
		}
	}()
	finish := func() int {
		if !stop.Swap(true) {
			<-done
			unix.Close(fd)
		}
		return int(biggest.Load())
	}
	t.Cleanup(func() { finish() })
	return finish
}

// Legitimate traffic 2: an allowed WebSocket upgrade as the first request
// of a connection, then masked frames both ways; and an h2c upgrade on a
// policed port is refused.
func TestLegitWebSocketAndH2C(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 21)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	t.Run("websocket", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := tp.cli.DialContext(ctx, "tcp", tp.srvAddr(goPort))
		must(t, err)
		defer c.Close()
		key := make([]byte, 16)
		_, _ = rand.Read(key)
		_, err = c.Write([]byte("GET /api/v1/ws HTTP/1.1\r\nHost: srv\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
			"Sec-WebSocket-Key: " + base64.StdEncoding.EncodeToString(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n"))
		must(t, err)
		head, err := readAll(c, 2*time.Second)
		if !strings.HasPrefix(head, "HTTP/1.1 101") {
			t.Fatalf("upgrade: got %q (%v), want 101", head, err)
		}
		for i, msg := range []string{"hello", "GET /api/admin/ws HTTP/1.1\r\nHost: srv\r\n\r\n", strings.Repeat("x", 300)} {
			mask := make([]byte, 4)
			_, _ = rand.Read(mask)
			if _, err := c.Write(wsFrame(1, []byte(msg), mask)); err != nil {
				t.Fatalf("frame %d: write: %v", i, err)
			}
			want := wsFrame(1, []byte(msg), nil)
			got, err := readN(c, len(want), 2*time.Second)
			if !bytes.Equal(got, want) {
				t.Fatalf("frame %d: echo %q (%v), want %q: the WebSocket stream was cut", i, got, err, want)
			}
		}
	})
	forServers(t, srvs, func(t *testing.T, s server) {
		tok := token("h2c")
		req := "GET /api/v1/" + tok + " HTTP/1.1\r\nHost: srv\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n" +
			"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
		resp, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), req, 300*time.Millisecond)
		control(t, tp, s)
		expectRefused(t, s, resp, err, "an h2c upgrade")
		expectNever(t, s, tok, "an h2c upgrade")
	})
}

// readN reads exactly n bytes or until wait passes.
func readN(c net.Conn, n int, wait time.Duration) ([]byte, error) {
	_ = c.SetReadDeadline(time.Now().Add(wait))
	b := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(b) < n {
		k, err := c.Read(buf[:n-len(b)])
		b = append(b, buf[:k]...)
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// Legitimate traffic 3: on an endpoint whose only policy is in Audit mode,
// out-of-order segments and IP fragments are delivered, even for a request
// the policy would deny (it is only counted).
func TestLegitAuditNeverBreaks(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 22)
	tp.policy("Audit", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, path := range []string{"/api/v1/", "/api/admin/"} {
			t.Run("out-of-order"+strings.ReplaceAll(path, "/", "-"), func(t *testing.T) {
				tok := token("ooo")
				req := request(path + tok)
				half := len(req) / 2
				f := tp.connect(t, s.Port(), false, nil)
				must(t, f.Data(f.ISN+1+uint32(half), req[half:]))
				time.Sleep(20 * time.Millisecond)
				must(t, f.Data(f.ISN+1, req[:half]))
				expectArrived(t, s, tok, "a request sent as two segments in reverse order")
			})
			t.Run("fragments"+strings.ReplaceAll(path, "/", "-"), func(t *testing.T) {
				tok := token("frags")
				f := tp.connect(t, s.Port(), false, nil)
				seg := Segment{SrcPort: f.Local.Port(), DstPort: f.Remote.Port(), Seq: f.ISN + 1, Ack: f.SrvISN + 1,
					Flags: ACK | PSH, Payload: request(path + tok)}
				h := IPv4{Src: f.Local.Addr(), Dst: f.Remote.Addr(), Proto: ProtoTCP, ID: 777}
				for _, frag := range Fragments4(h, seg.Marshal(f.Local.Addr(), f.Remote.Addr()), 32) {
					must(t, f.SendIP(frag))
				}
				expectArrived(t, s, tok, "a request in two IPv4 fragments")
			})
		}
	})
}

// Legitimate traffic 4: a request that is allowed is not counted as
// glob_undecided (a drop reason), even when an Allow glob with a lower rule
// ID could not be decided on its long path.
func TestLegitGlobUndecidedNotCountedForAllowed(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 23)
	tp.policy("Enforce", "")
	// Sorted before srv-api, so its rule has the lower ID and is tried.
	tp.write("aaa-glob.yaml", fmt.Sprintf(`apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata:
  name: aaa-glob
  namespace: shop
spec:
  podSelector:
    matchLabels:
      app: srv
  ports:
  - port: %d
  defaultAction: Deny
  rules:
  - action: Allow
    from:
    - podSelector:
        matchLabels:
          app: cli
    http:
    - methods: [GET]
      paths:
      - glob: /api/v1/long/**/end
`, goPort))
	srvs := tp.servers("go")
	a := tp.startAgent()
	tok := token("/api/v1/long/" + strings.Repeat("a", 300))
	if got := curl(t, tp.cli, "http://"+tp.srvAddr(goPort)+tok); got != "200" {
		t.Fatalf("allowed request with a 300-byte path: got %s, want 200", got)
	}
	expectArrived(t, srvs[0], tok, "the allowed request with a long path")
	if v := a.Metric("axon_drops_total", map[string]string{"reason": "glob_undecided"}); v != 0 {
		t.Errorf("axon_drops_total{reason=glob_undecided} = %v after one allowed request, want 0", v)
	}
}
