package evasion

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// expectRefused checks that the client got no HTTP response: Axon refused
// the request (reset or drop) before any server could answer it.
func expectRefused(t *testing.T, s server, resp string, err error, what string) {
	t.Helper()
	if strings.HasPrefix(resp, "HTTP/") {
		line, _, _ := strings.Cut(resp, "\r\n")
		t.Errorf("LEAK %s: %s was passed to the server, which answered %q", s.Name(), what, line)
	}
}

// control sends an allowed GET with a fresh marker over a plain connection
// and checks that it reached the server.
func control(t *testing.T, tp *topo, s server) {
	t.Helper()
	ctl := token("/api/v1/ctl")
	resp, _ := exchange(t, tp.cli, tp.srvAddr(s.Port()), string(request(ctl)), 300*time.Millisecond)
	if !strings.HasPrefix(resp, "HTTP/1.1 200") {
		t.Errorf("%s: allowed control request: response %q", s.Name(), resp)
	}
	expectArrived(t, s, ctl, "the allowed control request")
}

// Class 10: a bare CR inside a header value, or before a Content-Length
// value. Python's header parser ends the header block at it, so the body
// (the denied request) runs as the next request; Go and nginx reject the
// request.
func TestClass10BareCR(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 11)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx", "python")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		for name, hdr := range map[string]func(n int) string{
			"cr-in-header-value":   func(n int) string { return fmt.Sprintf("X-A: v\r\r\nContent-Length: %d\r\n", n) },
			"cr-before-cl-value":   func(n int) string { return fmt.Sprintf("Content-Length: \r%d\r\n", n) },
			"cr-in-value-after-cl": func(n int) string { return fmt.Sprintf("Content-Length: %d\r\nX-A: v\r\r\n", n) },
		} {
			t.Run(name, func(t *testing.T) {
				tok := token(name)
				inner := string(request("/api/admin/" + tok))
				req := "GET /api/v1/cr HTTP/1.1\r\nHost: srv\r\n" + hdr(len(inner)) + "\r\n" + inner
				resp, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), req, 500*time.Millisecond)
				control(t, tp, s)
				expectNever(t, s, tok, "GET /api/admin/"+tok+" in the body behind a bare CR ("+firstLine(resp, err)+")")
			})
		}
	})
}

func firstLine(resp string, err error) string {
	line, _, _ := strings.Cut(resp, "\r\n")
	if line == "" && err != nil {
		return "client saw " + err.Error()
	}
	return fmt.Sprintf("client saw %q", line)
}

// Class 11: HTTP/1.0 with Transfer-Encoding: chunked. Go ignores the
// coding on HTTP/1.0 (no body); the "chunk" 0 with an extension is then
// Go's next request line, a denied one (method "0", a hex digit).
func TestClass11HTTP10Chunked(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 12)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		tok := token("te10")
		req := "GET /api/v1/te HTTP/1.0\r\nHost: srv\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"0 /api/admin/" + tok + " HTTP/1.1\r\nHost: srv\r\n\r\n"
		resp, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), req, 500*time.Millisecond)
		control(t, tp, s)
		expectNever(t, s, tok, "the chunk \"0 /api/admin/"+tok+"\" run as a request ("+firstLine(resp, err)+")")
	})
}

// Class 12: '#' in the request target. Axon cut the path there; Go's
// http.FileServer cleans /api/v1/ok#/../../admin/... to /api/admin/...
// (the Go server's log shows the path it would serve after "->").
func TestClass12FragmentInTarget(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 13)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		tok := token("secret")
		req := string(request("/api/v1/ok#/../../admin/" + tok + ".txt"))
		resp, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), req, 300*time.Millisecond)
		control(t, tp, s)
		expectNever(t, s, tok, "GET /api/v1/ok#/../../admin/"+tok+".txt ("+firstLine(resp, err)+")")
		if d := explainDecision(t, tp, s.Port(), "GET /api/v1/ok#/../../admin/x.txt"); d != "deny" {
			t.Errorf("axon policy explain of the '#' target: decision %q, want deny", d)
		}
	})
}

// Class 13: percent-encoded reserved characters and hex case. A Deny rule
// on the decoded (or differently cased) form must deny every spelling a
// server decodes to the same path.
func TestClass13PercentEncoding(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 14)
	tp.policy("Enforce", `  - action: Deny
    http:
    - paths:
      - exact: /api/v1/orders/@me
      - exact: /api/v1/admin:export
      - exact: /api/v1/files/a+b
      - exact: /api/v1/q%3Fx
      - glob: /api/v1/gl/*
      - glob: /api/v1/gs/?
`)
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	cases := []struct{ name, path string }{
		{"literal-@", "/api/v1/orders/@me"}, // baseline: denied today
		{"%40-for-@", "/api/v1/orders/%40me"},
		{"%3A-for-colon", "/api/v1/admin%3Aexport"},
		{"%3a-for-colon", "/api/v1/admin%3aexport"},
		{"%2B-for-plus", "/api/v1/files/a%2Bb"},
		{"%3f-for-rule-%3F", "/api/v1/q%3fx"},
		// Globs match the canonical form byte by byte (docs/semantics.md):
		// a kept escape is three bytes, which '*' matches whole; '?' is
		// one byte, and a decoded escape (%40 = @) is one.
		{"glob-*-against-%20", "/api/v1/gl/%20"},
		{"glob-*-against-%20-and-%3F", "/api/v1/gl/a%20b%3Fc"},
		{"glob-?-against-%40", "/api/v1/gs/%40"},
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tok := token("pct")
				resp, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), string(request(c.path+"?"+tok)), 300*time.Millisecond)
				control(t, tp, s)
				expectNever(t, s, tok, "GET "+c.path+" ("+firstLine(resp, err)+")")
				if d := explainDecision(t, tp, s.Port(), "GET "+c.path); d != "deny" {
					t.Errorf("axon policy explain GET %s: decision %q, want deny", c.path, d)
				}
			})
		}
	})
}

// Class 14: a Deny rule whose ipBlock contains the client pod denies it
// (IPv4 and IPv6); an except that leaves the pod out does not.
func TestClass14DenyIPBlock(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 15)
	tp.policy("Enforce", fmt.Sprintf(`  - action: Deny
    from:
    - ipBlock:
        cidr: 10.86.%[1]d.0/24
    - ipBlock:
        cidr: fd86:%[1]x::/64
    http:
    - paths:
      - prefix: /api/v1/blocked
  - action: Deny
    from:
    - ipBlock:
        cidr: 10.86.%[1]d.0/24
        except:
        - %[2]s/32
    http:
    - paths:
      - prefix: /api/v1/excepted
`, tp.n, tp.cli.Addr))
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, v6 := range []bool{false, true} {
			host, from := tp.srv.Addr.String(), tp.cli.Addr.String()
			if v6 {
				host, from = "["+tp.srv6.String()+"]", tp.cli6.String()
			}
			base := "http://" + host + ":" + itoa(s.Port())
			tok := token("ipblock")
			got := curl(t, tp.cli, base+"/api/v1/blocked/"+tok)
			ex := token("excepted")
			if c := curl(t, tp.cli, base+"/api/v1/excepted/"+ex); c != "200" {
				t.Errorf("request outside the Deny's ipBlock (except): got %s, want 200", c)
			}
			expectArrived(t, s, ex, "the request from the excepted address")
			expectNever(t, s, tok, fmt.Sprintf("GET /api/v1/blocked from a pod inside the Deny ipBlock (ipv6 %v, curl: %s)", v6, got))
			to := host + ":" + itoa(s.Port())
			if d := explainFrom(t, tp, from, to, "GET /api/v1/blocked/x"); d != "deny" {
				t.Errorf("axon policy explain from %s: decision %q, want deny", from, d)
			}
			if d := explainFrom(t, tp, from, to, "GET /api/v1/excepted/x"); d != "allow" {
				t.Errorf("axon policy explain of the excepted source %s: decision %q, want allow", from, d)
			}
		}
	})
}

// Class 15: OPTIONS * against a Deny on glob /**, invalid method tokens
// and methods over 64 bytes: Axon must deny them all, and `axon policy
// explain` must say what the kernel did. (A rule without methods allows
// /api/v1/any/... so that a method the kernel refuses as not HTTP is one
// the rules alone would allow.)
func TestClass15AsteriskAndMethods(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 16)
	tp.policy("Enforce", `  - action: Allow
    from:
    - podSelector:
        matchLabels:
          app: cli
    http:
    - methods: [OPTIONS]
    - paths:
      - prefix: /api/v1/any
  - action: Deny
    http:
    - methods: [OPTIONS]
      paths:
      - glob: /**
`)
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	cases := []struct{ name, line, marker string }{
		{"options-path", "OPTIONS /api/v1/x-%s HTTP/1.1", "x-%s"}, // baseline: denied today
		{"options-asterisk", "OPTIONS * HTTP/1.1\r\nX-Tok: %s", "OPTIONS *"},
		{"invalid-method", "G@T /api/v1/any/m-%s HTTP/1.1", "m-%s"},
		{"method-over-64-bytes", strings.Repeat("G", 65) + " /api/v1/any/m-%s HTTP/1.1", "m-%s"},
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tok := token("m")
				req := strings.ReplaceAll(c.line, "%s", tok) + "\r\nHost: srv\r\n\r\n"
				line := strings.SplitN(req, "\r\n", 2)[0]
				resp, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), req, 300*time.Millisecond)
				control(t, tp, s)
				expectRefused(t, s, resp, err, line)
				expectNever(t, s, strings.ReplaceAll(c.marker, "%s", tok), line)
				if d := explainDecision(t, tp, s.Port(), line); d != "deny" {
					t.Errorf("axon policy explain %q: decision %q, want deny (what the datapath must do)", line, d)
				}
			})
		}
	})
}

// explainDecision runs `axon policy explain` (the Go evaluator, checked
// against OPA) on the test's policy directory for request line from the
// client pod to the server's port, and returns its decision.
func explainDecision(t *testing.T, tp *topo, port int, line string) string {
	t.Helper()
	return explainFrom(t, tp, tp.cli.Addr.String(), tp.srvAddr(port), line)
}

// explainFrom is explainDecision for any source and destination.
func explainFrom(t *testing.T, tp *topo, from, to, line string) string {
	t.Helper()
	line = strings.TrimSuffix(line, " HTTP/1.1")
	out, err := exec.Command(axonBin, "policy", "explain", tp.dir, "--from", from, "--to", to, line).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "decision" {
			return f[1]
		}
	}
	return fmt.Sprintf("none (%v: %s)", err, strings.TrimSpace(string(out)))
}

// Class 16: lenient chunked and Transfer-Encoding parsing: a bare LF ending
// a chunk-size line (also after an extension), "chun ked" and "chun\rked".
// Every server tested rejects these; Axon must refuse them too.
func TestClass16LenientChunked(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 17)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	cases := []struct{ name, te, body string }{
		{"bare-lf-chunk-size", "chunked", "5\nhello\r\n0\r\n\r\n"},
		{"bare-lf-after-extension", "chunked", "5;a=b\nhello\r\n0\r\n\r\n"},
		{"te-chun-space-ked", "chun ked", "5\r\nhello\r\n0\r\n\r\n"},
		{"te-chun-cr-ked", "chun\rked", "5\r\nhello\r\n0\r\n\r\n"},
	}
	forServers(t, srvs, func(t *testing.T, s server) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				tok := token("chunk")
				req := "POST /api/v1/" + tok + " HTTP/1.1\r\nHost: srv\r\nTransfer-Encoding: " + c.te + "\r\n\r\n" + c.body
				resp, err := exchange(t, tp.cli, tp.srvAddr(s.Port()), req, 300*time.Millisecond)
				control(t, tp, s)
				expectRefused(t, s, resp, err, "a POST with "+c.name)
				expectNever(t, s, tok, "a POST with "+c.name)
			})
		}
	})
}
