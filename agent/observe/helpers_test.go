package observe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// The e2e tests run servers and clients as separate processes inside the
// test's network namespaces, as pods would: the observer filters on the
// namespace of the calling thread, and a Go test process only switches
// single threads. The test binary re-executes itself with helperEnv set.
const helperEnv = "AXON_OBSERVE_HELPER"

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		if err := runHelper(role, os.Args[len(os.Args)-1]); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper starts the test binary as role inside h with arg.
func helper(ctx context.Context, h *netns.Host, role, arg string) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := h.Command(ctx, self, "-test.run=^$", arg)
	cmd.Env = append(os.Environ(), helperEnv+"="+role)
	return cmd
}

func runHelper(role, arg string) error {
	switch role {
	case "server":
		return serveTest(arg)
	case "goclient":
		return goClient(arg, clientPlan)
	case "goclient-nginx":
		return goClient(arg, nginxPlan)
	case "shortreads":
		return shortReadClient(arg)
	case "load":
		return loadClient(arg)
	case "pipeline":
		return pipelineClient(arg, pipelinePaths)
	case "exchange":
		return exchangeLoop(arg)
	case "pipeline-nginx":
		return pipelineClient(arg, nginxPipelinePaths)
	}
	return fmt.Errorf("unknown helper %q", role)
}

// serveTest is the Go server of the ground-truth tests: /ok 200, /missing
// 404, /fail 500, /slow 200 after 50 ms, /echo 200 with the request body,
// anything under /api/ 200.
func serveTest(addr string) error {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "fail", http.StatusInternalServerError)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond)
		io.WriteString(w, "slow\n")
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "api\n") })
	var l net.Listener
	var err error
	for range 100 { // an IPv6 address is usable once duplicate detection ends
		if l, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	fmt.Println("listening")
	return http.Serve(l, mux)
}

type request struct{ method, path, body string }

// clientPlan is what the Go keep-alive client sends, in order: method,
// path, body.
var clientPlan = []request{
	{"GET", "/ok", ""}, {"GET", "/ok", ""}, {"GET", "/ok", ""},
	{"GET", "/missing", ""}, {"GET", "/missing", ""},
	{"GET", "/fail", ""},
	{"POST", "/echo", "hello world"}, {"PUT", "/echo", strings.Repeat("x", 300)},
	{"GET", "/slow", ""}, {"GET", "/slow", ""}, {"GET", "/slow", ""},
	{"HEAD", "/ok", ""},
	{"GET", "/api/orders/17", ""}, {"GET", "/api/orders/18", ""}, {"DELETE", "/api/orders/19", ""},
}

// nginxPlan is what the Go client sends to nginx.
var nginxPlan = []request{
	{"GET", "/ok", ""}, {"GET", "/ok", ""}, {"HEAD", "/ok", ""},
	{"GET", "/missing", ""}, {"GET", "/fail", ""}, {"POST", "/fail", "x=1"},
	{"GET", "/api/orders/1", ""}, {"PUT", "/api/orders/2", "{}"},
}

// goClient sends plan over one keep-alive connection.
func goClient(base string, plan []request) error {
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	for _, r := range plan {
		var body io.Reader
		if r.body != "" {
			body = strings.NewReader(r.body)
		}
		req, err := http.NewRequest(r.method, base+r.path, body)
		if err != nil {
			return err
		}
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	c.CloseIdleConnections()
	return nil
}

// pipelinePaths are sent by the raw pipelining client in one write.
var pipelinePaths = []string{"/ok", "/missing", "/fail", "/ok", "/api/orders/5"}

// nginxPipelinePaths avoid /fail: nginx closes the connection after a 500.
var nginxPipelinePaths = []string{"/ok", "/missing", "/ok", "/api/orders/5", "/ok"}

// pipelineClient writes every request of paths in one write on one
// connection, then reads all responses.
func pipelineClient(addr string, paths []string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	var b strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: pipeline\r\n\r\n", p, addr)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return err
	}
	br := bufio.NewReader(c)
	for range paths {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return nil
}

// loadClient sends GET /ok for 1 s from 8 keep-alive connections and prints
// the requests per second.
func loadClient(base string) error {
	tr := &http.Transport{MaxIdleConnsPerHost: 8, MaxConnsPerHost: 8}
	c := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	end := time.Now().Add(time.Second)
	counts := make(chan int, 8)
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			n := 0
			for time.Now().Before(end) {
				resp, err := c.Get(base + "/ok")
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n++
			}
			counts <- n
		}()
	}
	total := 0
	for range 8 {
		select {
		case n := <-counts:
			total += n
		case err := <-errs:
			return err
		}
	}
	fmt.Println(total)
	return nil
}

// shortReadClient sends GET /ok shortReadRequests times on one connection
// and reads each response (after the first) in two reads: all but its last
// 3 bytes, then those 3 bytes. The short read's bytes are the end of a body,
// not the start of the next response: the observer must not glue them on.
func shortReadClient(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	req := fmt.Sprintf("GET /ok HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	buf := make([]byte, 4096)
	size := 0
	for i := range shortReadRequests {
		if _, err := io.WriteString(c, req); err != nil {
			return err
		}
		if i == 0 {
			// Learn the response size (the Date header has a fixed width).
			r := bufio.NewReader(c)
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			head, _ := httpHeadSize(resp)
			size = head + len(b)
			continue
		}
		if _, err := io.ReadFull(c, buf[:size-3]); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, buf[:3]); err != nil {
			return err
		}
	}
	return nil
}

// shortReadRequests is how many requests shortReadClient sends.
const shortReadRequests = 4

// httpHeadSize is the size of a Go server's response head to GET /ok.
func httpHeadSize(resp *http.Response) (int, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\n", resp.Status)
	if err := resp.Header.Write(&b); err != nil {
		return 0, err
	}
	return b.Len() + 2, nil
}
