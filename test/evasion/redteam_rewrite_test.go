package evasion

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// newTopo98 is newTopo on 10.98.<n>.0/24 and fd98:<n>::/64, the range of
// the red team's fifth pass (acknowledged rewrites, dual listeners).
func newTopo98(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.98", "fd98", n)
}

// ranPath reports the server log lines that show marker as a request the
// server ran (nginx's 400 for a line it held when the connection ended
// does not count, see expectNeverRun).
func ranPath(s server, marker string) []string {
	var hits []string
	for _, l := range s.Log() {
		if strings.Contains(l, marker) && !(s.Name() == "nginx" && strings.HasSuffix(strings.TrimSpace(l), "\" 400")) {
			hits = append(hits, l)
		}
	}
	return hits
}

// TestRedteamAckedRewriteEveryOffset splits a request at every offset k of
// its request line: bytes [0,k) go as one segment, and once the server has
// acknowledged them a second segment starts inside the acknowledged bytes
// (at j = 0 or j = k/2, or k-1), carries DIFFERENT content there and then
// the rest of the request. The server's stack discards the acknowledged
// part of the second copy, so what it runs is first[0,k) + second[k,...);
// the datapath must parse exactly that.
//
//   - denied-first/twin: first = the denied line's prefix, the rewrite is
//     the allowed twin's bytes (/api/v1/aaa... over /api/admin/...). The
//     server runs the denied request unless the datapath resets it.
//   - denied-first/junk: the rewrite is 'X' bytes (GET /api/aXXX over
//     GET /api/admin).
//   - allowed-first: first = the allowed twin's prefix, the rewrite is the
//     denied line's bytes, the rest is the denied line's. The server runs
//     allowed[0,k) + denied[k,...), which is the denied request while k is
//     within the common prefix "GET /api/" and an allowed /api/v... path
//     after it (the test then only counts how often that allowed request
//     was refused: a false positive, not a failure).
//
// A variant fails when a request for /api/admin/<tok> ran on the server.
func TestRedteamAckedRewriteEveryOffset(t *testing.T) {
	t.Parallel()
	tp := newTopo98(t, 1)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	type variant struct {
		name  string
		build func(denied, allowed []byte, k int) (first, rewrite, rest []byte)
	}
	variants := []variant{
		{"denied-first/twin", func(d, a []byte, k int) ([]byte, []byte, []byte) { return d[:k], a[:k], d[k:] }},
		{"denied-first/junk", func(d, a []byte, k int) ([]byte, []byte, []byte) {
			return d[:k], []byte(strings.Repeat("X", k)), d[k:]
		}},
		{"allowed-first", func(d, a []byte, k int) ([]byte, []byte, []byte) { return a[:k], d[:k], d[k:] }},
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		tp.rawControl(t, s, false)
		probe, _ := twins(token("probe"))
		lineLen := strings.Index(string(probe), "\r\n") + 2
		var runs, resets, refusedAllowed, allowedRuns int
		late := map[string]string{} // token -> the variant, for a last look at the log
		for _, v := range variants {
			for k := 1; k <= lineLen; k++ {
				for _, j := range dedup(0, k/2, k-1) {
					tok := token(fmt.Sprintf("rw%d-%d", k, j))
					denied, allowed := twins(tok)
					first, rewrite, rest := v.build(denied, allowed, k)
					f := tp.connect(t, s.Port(), false, nil)
					must(t, f.Data(f.ISN+1, first))
					time.Sleep(60 * time.Millisecond) // the server's ACK of [0,k)
					second := append(append([]byte(nil), rewrite[j:k]...), rest...)
					must(t, f.Data(f.ISN+1+uint32(j), second))
					resp, rst := f.Response("\r\n\r\n", 400*time.Millisecond)
					f.Abort()
					runs++
					if rst {
						resets++
					}
					serverView := string(first) + string(rest)
					if !strings.Contains(serverView, "/api/admin/") {
						allowedRuns++
						if !strings.HasPrefix(resp, "HTTP/1.1 200") {
							refusedAllowed++
						}
					}
					what := fmt.Sprintf("%s k=%d j=%d: first %q, then at %d %q: %s", v.name, k, j, first, j, second, describe(resp, rst))
					if hits := ranPath(s, "/api/admin/"+tok); len(hits) > 0 {
						t.Errorf("LEAK %s %s; server log %q", s.Name(), what, hits)
					} else {
						late[tok] = what
					}
				}
			}
		}
		time.Sleep(500 * time.Millisecond) // nginx logs after answering
		for tok, what := range late {
			if hits := ranPath(s, "/api/admin/"+tok); len(hits) > 0 {
				t.Errorf("LEAK %s %s; server log %q", s.Name(), what, hits)
			}
		}
		t.Logf("%s: %d flows (%d reset); %d whose server view was an allowed request, %d of them not answered 200",
			s.Name(), runs, resets, allowedRuns, refusedAllowed)
	})
}

// dedup returns the distinct values of vs in order.
func dedup(vs ...int) []int {
	var out []int
	for _, v := range vs {
		seen := false
		for _, o := range out {
			seen = seen || o == v
		}
		if !seen {
			out = append(out, v)
		}
	}
	return out
}
