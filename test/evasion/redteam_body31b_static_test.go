package evasion

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pythonStatic is Python's stock file server, http.server's
// SimpleHTTPRequestHandler, speaking HTTP/1.1 (as "python3 -m http.server
// --protocol HTTP/1.1" does), serving argv[3] and logging each request.
const pythonStatic = `import http.server, socket, sys, functools
port, logpath, root = int(sys.argv[1]), sys.argv[2], sys.argv[3]
log = open(logpath, "a", buffering=1)
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, fmt, *args):
        log.write(self.requestline + "\n")
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
S(("::", port), functools.partial(H, directory=root)).serve_forever()
`

// staticTopo is newTopo99(t, n) with an Enforce policy, the running agent
// and pythonStatic serving a public /api/v1/index.html and a file under the
// denied /api/admin: its name (token(prefix)) and the secret it holds.
func staticTopo(t *testing.T, n int, prefix string) (tp *topo, s *fileServer, bad, secret string) {
	t.Helper()
	tp = newTopo99(t, n)
	tp.policy("Enforce", "")
	if pythonBin == "" {
		skipOrFail(t, "python3 is not installed")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	bad, secret = token(prefix), token("SECRET")
	must(t, os.MkdirAll(filepath.Join(root, "api", "admin"), 0o755))
	must(t, os.MkdirAll(filepath.Join(root, "api", "v1"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "api", "admin", bad), []byte(secret+"\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "api", "v1", "index.html"), []byte("public\n"), 0o644))
	s = &fileServer{name: "python", port: pythonPort, logPath: filepath.Join(dir, "requests.log")}
	script := filepath.Join(dir, "server.py")
	must(t, os.WriteFile(script, []byte(pythonStatic), 0o644))
	startDaemon(t, tp.srv, pythonPort, "", pythonBin, script, fmt.Sprint(pythonPort), s.logPath, root)
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	return tp, s, bad, secret
}

// TestRedteamBody31Static (red team, rev26): with Python's stock
// SimpleHTTPRequestHandler, an allowed GET /api/v1/index.html whose
// Content-Length body is a request line with a target the class-31 probe
// does not refuse (it refuses only targets beginning with '/', 'h', 'H')
// gets a file under the denied /api/admin: "GET api/admin/<f> HTTP/1.1"
// (translate_path takes a relative target as the same file), or "GET .
// HTTP/1.1" (a keep-alive 301) followed by "GET /api/admin/<f>
// HTTP/1.1". The file's content must never reach the client. On
// 10.99.42.0/24.
func TestRedteamBody31Static(t *testing.T) {
	t.Parallel()
	tp, s, bad, secret := staticTopo(t, 42, "body31bad")
	for _, c := range []struct{ name, body string }{
		{"relative-target", "GET api/admin/%s HTTP/1.1\r\nHost: srv\r\n\r\n"},
		{"dot-then-denied", "GET . HTTP/1.1\r\nHost: srv\r\n\r\nGET /api/admin/%s HTTP/1.1\r\nHost: srv\r\n\r\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := strings.Replace(c.body, "%s", bad, 1)
			head := fmt.Sprintf("GET /api/v1/index.html HTTP/1.1\r\nHost: srv\r\nContent-Length: %d\r\n\r\n", len(body))
			first, second, err := earlyExchange(t, tp, s.Port(), head, body)
			t.Logf("%s: first answer %q, then %q (%v); server log %q", c.name, firstLine(first, nil), firstLine(second, err), err, s.Log())
			if strings.Contains(first+second, secret) {
				t.Errorf("LEAK: the denied file /api/admin/%s reached the client through the body %q", bad, body)
			}
		})
	}
}
