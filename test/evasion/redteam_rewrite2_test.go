package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRedteamAckedRewritePipelined: as TestRedteamAckedRewriteEveryOffset,
// after a complete request. The client sends an allowed request, the
// server acknowledges and answers it, then a segment starts inside the
// acknowledged request (at j), rewrites its bytes (with the denied twin's
// bytes or 'X') and carries a pipelined denied request. The server
// discards the rewritten part and runs the denied request, unless the
// datapath resets it. Also over IPv6: every offset of the request line,
// j = 0, denied-first/twin and allowed-first (Go only).
func TestRedteamAckedRewritePipelined(t *testing.T) {
	t.Parallel()
	tp := newTopo98(t, 3)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		var runs, resets int
		late := map[string]string{}
		for _, fill := range []string{"twin", "junk"} {
			probe, _ := twins(token("probe"))
			for j := 0; j < len(probe); j += 3 {
				tok := token(fmt.Sprintf("pl%d", j))
				denied, allowed := twins(tok)
				rewrite := denied
				if fill == "junk" {
					rewrite = []byte(strings.Repeat("X", len(allowed)))
				}
				f := tp.connect(t, s.Port(), false, nil)
				must(t, f.Data(f.ISN+1, allowed))
				if resp, rst := f.Response("\r\n\r\n", time.Second); !strings.HasPrefix(resp, "HTTP/1.1 200") {
					t.Fatalf("%s: allowed request: %s", s.Name(), describe(resp, rst))
				}
				time.Sleep(60 * time.Millisecond) // the server's ACK
				second := append(append([]byte(nil), rewrite[j:]...), denied...)
				must(t, f.Data(f.ISN+1+uint32(j), second))
				_, rst := f.Response("ok GET /api/admin", 400*time.Millisecond)
				f.Abort()
				runs++
				if rst {
					resets++
				}
				what := fmt.Sprintf("pipelined %s j=%d: %q at %d after the acknowledged %q (reset %v)", fill, j, second, j, allowed, rst)
				if hits := ranPath(s, "/api/admin/"+tok); len(hits) > 0 {
					t.Errorf("LEAK %s %s; server log %q", s.Name(), what, hits)
				} else {
					late[tok] = what
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
		for tok, what := range late {
			if hits := ranPath(s, "/api/admin/"+tok); len(hits) > 0 {
				t.Errorf("LEAK %s %s; server log %q", s.Name(), what, hits)
			}
		}
		t.Logf("%s: %d pipelined flows, %d reset", s.Name(), runs, resets)
	})
	t.Run("ipv6/go", func(t *testing.T) {
		s := srvs[0]
		tp.rawControl(t, s, true)
		probe, _ := twins(token("probe"))
		lineLen := strings.Index(string(probe), "\r\n") + 2
		var runs, resets, allowedRuns, refused int
		for _, allowedFirst := range []bool{false, true} {
			for k := 1; k <= lineLen; k++ {
				tok := token(fmt.Sprintf("v6rw%d", k))
				denied, allowed := twins(tok)
				first, rewrite := denied[:k], allowed[:k]
				if allowedFirst {
					first, rewrite = allowed[:k], denied[:k]
				}
				f := tp.connect(t, s.Port(), true, nil)
				must(t, f.Data(f.ISN+1, first))
				time.Sleep(60 * time.Millisecond)
				second := append(append([]byte(nil), rewrite...), denied[k:]...)
				must(t, f.Data(f.ISN+1, second))
				resp, rst := f.Response("\r\n\r\n", 400*time.Millisecond)
				f.Abort()
				runs++
				if rst {
					resets++
				}
				if !strings.Contains(string(first)+string(denied[k:]), "/api/admin/") {
					allowedRuns++
					if !strings.HasPrefix(resp, "HTTP/1.1 200") {
						refused++
					}
				}
				time.Sleep(20 * time.Millisecond)
				if hits := ranPath(s, "/api/admin/"+tok); len(hits) > 0 {
					t.Errorf("LEAK ipv6 allowedFirst=%v k=%d: first %q then %q: %s; server log %q", allowedFirst, k, first, second, describe(resp, rst), hits)
				}
			}
		}
		t.Logf("ipv6: %d flows (%d reset); %d allowed on the server's view, %d of them not answered 200", runs, resets, allowedRuns, refused)
	})
}
