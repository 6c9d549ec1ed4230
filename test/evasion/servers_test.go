package evasion

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"

	"github.com/axon-dev/axon/test/netns"
)

// server is a real HTTP server in the server pod that logs every request
// it serves, in its own words.
type server interface {
	Name() string
	Port() int
	Log() []string
}

// servers starts the named servers ("go", "nginx", "python") in the
// server pod and returns them in that order.
func (tp *topo) servers(names ...string) []server {
	tp.t.Helper()
	var out []server
	for _, n := range names {
		switch n {
		case "go":
			out = append(out, startGoServer(tp.t, tp.srv, goPort))
		case "nginx":
			out = append(out, startNginx(tp.t, tp.srv, nginxPort))
		case "python":
			out = append(out, startPython(tp.t, tp.srv, pythonPort))
		default:
			tp.t.Fatalf("unknown server %q", n)
		}
	}
	return out
}

// goServer is Go net/http. Its log line per request is "METHOD
// REQUEST-URI PROTO -> PATH", PATH being the path.Clean'd URL path that
// http.FileServer would serve. GET /api/v1/ws with "Upgrade: websocket"
// is answered 101 and then echoes WebSocket frames. /api/v1/status/CODE is
// answered with that status and nothing else, as httpbin's /status/{code}
// does (for 101, Go sends it as a final response and keeps reading HTTP).
type goServer struct {
	port int
	mu   sync.Mutex
	log  []string
}

func startGoServer(t *testing.T, h *netns.Host, port int) *goServer {
	t.Helper()
	l, err := h.Listen("tcp", fmt.Sprintf(":%d", port)) // every address of the pod
	if err != nil {
		t.Fatalf("listening in %s: %v", h.NS, err)
	}
	s := &goServer{port: port}
	srv := &http.Server{
		Handler:                      http.HandlerFunc(s.serve),
		ReadHeaderTimeout:            10 * time.Second,
		DisableGeneralOptionsHandler: true, // OPTIONS * reaches the handler and its log
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	})
	return s
}

func (s *goServer) Name() string { return "go" }
func (s *goServer) Port() int    { return s.port }

func (s *goServer) Log() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// record logs r in the Go server's log format.
func (s *goServer) record(r *http.Request) {
	s.mu.Lock()
	s.log = append(s.log, fmt.Sprintf("%s %s %s -> %s", r.Method, r.RequestURI, r.Proto, path.Clean(r.URL.Path)))
	s.mu.Unlock()
}

// answerUnread logs r and answers it without reading its body, as the
// red team's single-purpose Go servers do.
func (s *goServer) answerUnread(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	_, _ = fmt.Fprintf(w, "ok %s %s\n", r.Method, r.RequestURI)
}

// serveUntilCleanup serves srv on l until the test ends.
func serveUntilCleanup(t *testing.T, srv *http.Server, l net.Listener) {
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

func (s *goServer) serve(w http.ResponseWriter, r *http.Request) {
	s.record(r)
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") && r.URL.Path == "/api/v1/ws" {
		s.serveWebSocket(w, r)
		return
	}
	if c, ok := strings.CutPrefix(r.URL.Path, "/api/v1/status/"); ok {
		if code, err := strconv.Atoi(c); err == nil && code >= 100 && code <= 599 {
			w.WriteHeader(code)
			return
		}
	}
	_, _ = io.Copy(io.Discard, r.Body)
	_, _ = fmt.Fprintf(w, "ok %s %s\n", r.Method, r.RequestURI)
}

// serveWebSocket answers the upgrade (RFC 6455) and echoes every message
// frame back unmasked until the client closes, logging each one it reads
// as "ws-frame PAYLOAD".
func (s *goServer) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	if brw.Flush() != nil {
		return
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	for {
		op, payload, err := readWSFrame(brw.Reader)
		if err != nil || op == 8 {
			return
		}
		s.mu.Lock()
		s.log = append(s.log, "ws-frame "+string(payload))
		s.mu.Unlock()
		if _, err := conn.Write(wsFrame(op, payload, nil)); err != nil {
			return
		}
	}
}

// readWSFrame reads one WebSocket frame and unmasks its payload.
func readWSFrame(r *bufio.Reader) (byte, []byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(b[0])<<8 | uint64(b[1])
	case 127:
		return 0, nil, errors.New("frame too long for this test")
	}
	var mask [4]byte
	masked := h[1]&0x80 != 0
	if masked {
		if _, err := io.ReadFull(r, mask[:]); err != nil {
			return 0, nil, err
		}
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(r, p); err != nil {
		return 0, nil, err
	}
	if masked {
		for i := range p {
			p[i] ^= mask[i%4]
		}
	}
	return h[0] & 0x0f, p, nil
}

// wsFrame builds a final frame with opcode op, masked when mask is set.
func wsFrame(op byte, payload []byte, mask []byte) []byte {
	b := []byte{0x80 | op}
	mbit := byte(0)
	if mask != nil {
		mbit = 0x80
	}
	if len(payload) < 126 {
		b = append(b, mbit|byte(len(payload)))
	} else {
		b = append(b, mbit|126, byte(len(payload)>>8), byte(len(payload)))
	}
	if mask == nil {
		return append(b, payload...)
	}
	b = append(b, mask...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// fileServer is a server that writes its log to a file: nginx or Python.
type fileServer struct {
	name    string
	port    int
	logPath string
}

func (s *fileServer) Name() string { return s.name }
func (s *fileServer) Port() int    { return s.port }

func (s *fileServer) Log() []string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

var nginxOnce sync.Once

// startNginx runs Debian's nginx in the host on port (IPv4 and IPv6),
// answering 200 to everything and logging "$request $status" per request.
// A missing nginx is installed with apt-get (the tests run as root).
func startNginx(t *testing.T, h *netns.Host, port int) server {
	t.Helper()
	nginxOnce.Do(func() {
		if _, err := exec.LookPath("nginx"); err != nil {
			cmd := exec.Command("sh", "-c", "apt-get install -y -qq nginx-light || (apt-get update -qq && apt-get install -y -qq nginx-light)")
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Logf("installing nginx-light: %v\n%s", err, out)
			}
		}
	})
	bin, err := exec.LookPath("nginx")
	if err != nil {
		skipOrFail(t, "nginx is not installed and apt-get could not install nginx-light")
	}
	dir := t.TempDir()
	s := &fileServer{name: "nginx", port: port, logPath: filepath.Join(dir, "access.log")}
	conf := fmt.Sprintf(`daemon off;
master_process on;
worker_processes 1;
user root;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
  log_format axon '"$request" $status';
  access_log %[1]s/access.log axon;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  keepalive_requests 1000;
  server {
    listen %[2]d;
    listen [::]:%[2]d;
    location / { return 200 "ok\n"; }
  }
}
`, dir, port)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, h, port, filepath.Join(dir, "error.log"), bin, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", confPath)
	return s
}

// pythonServer is http.server's BaseHTTPRequestHandler speaking HTTP/1.1
// (keep-alive), logging each request line and reading the body its own
// header parse announces, as an application does.
const pythonServer = `import http.server, socket, sys
port, logpath = int(sys.argv[1]), sys.argv[2]
reads_body = sys.argv[3:] != ["noread"]
log = open(logpath, "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def handle_any(self):
        log.write(self.requestline + "\n")
        n = int(self.headers.get("Content-Length") or 0)
        if n and reads_body:
            self.rfile.read(n)
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)
    def log_message(self, *args):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
    request_queue_size = 128  # Python's 5 drops the SYNs of tests that open many connections at once
S(("::", port), H).serve_forever()
`

func startPython(t *testing.T, h *netns.Host, port int, args ...string) server {
	t.Helper()
	if pythonBin == "" {
		skipOrFail(t, "python3 is not installed")
	}
	dir := t.TempDir()
	s := &fileServer{name: "python", port: port, logPath: filepath.Join(dir, "requests.log")}
	script := filepath.Join(dir, "server.py")
	if err := os.WriteFile(script, []byte(pythonServer), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, h, port, "", pythonBin, append([]string{script, fmt.Sprint(port), s.logPath}, args...)...)
	return s
}

// startDaemon runs a server process in h, stops it (SIGTERM, then SIGKILL)
// at cleanup and waits until port accepts connections.
func startDaemon(t *testing.T, h *netns.Host, port int, errLog string, name string, args ...string) {
	t.Helper()
	startDaemonOn(t, h, h.Addr.String(), port, errLog, name, args...)
}

// startDaemonOn is startDaemon for a server listening on addr (a loopback
// address for a backend inside the pod); it returns the process's output.
func startDaemonOn(t *testing.T, h *netns.Host, addr string, port int, errLog string, name string, args ...string) *agentproc.SyncBuffer {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
	out := &agentproc.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := h.DialContext(context.Background(), "tcp", net.JoinHostPort(addr, fmt.Sprint(port)))
		if err == nil {
			c.Close()
			return out
		}
		select {
		case <-done:
			elog, _ := os.ReadFile(errLog)
			t.Fatalf("%s exited: %s\n%s", name, out.String(), elog)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept on port %d: %v\n%s", name, port, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// skipOrFail skips t for a missing server program, or fails it where every
// privileged test must run (CI=true or AXON_REQUIRE_ROOT=1, as
// netns.RequireRoot).
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" || os.Getenv("AXON_REQUIRE_ROOT") == "1" {
		t.Fatal(why)
	}
	t.Skip(why)
}
