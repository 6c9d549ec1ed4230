package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// workload is one kind of load: connection reuse and request size.
type workload struct {
	name      string
	keepAlive bool
	bigHeads  bool // ~500 bytes of realistic browser headers
}

var workloads = []workload{
	{"keep-alive, small request", true, false},
	{"keep-alive, ~500 B headers", true, true},
	{"connection per request, small", false, false},
	{"connection per request, ~500 B headers", false, true},
}

// browserHeaders are what a browser sends to an API behind a web front end
// (with a session cookie); with the request line they make about 500 bytes.
var browserHeaders = [][2]string{
	{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"},
	{"Accept", "application/json, text/plain, */*"},
	{"Accept-Language", "en-US,en;q=0.9,de;q=0.8"},
	{"Accept-Encoding", "gzip, deflate"},
	{"Referer", "http://shop.example/orders/overview?tab=open&page=2"},
	{"Cookie", "session=8f14e45fceea167a5a36dedd4bea2543; csrftoken=Qm9vdHN0cmFwQ3NyZlRva2VuMTIz; theme=dark"},
	{"X-Request-Id", "3b241101-e2bb-4255-8caf-4136c566a962"},
}

// wrkScript writes the Lua script of a workload: path, headers, and
// "Connection: close" for connection-per-request load.
func wrkScript(dir string, w workload, path string) (string, int, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "wrk.method = \"GET\"\nwrk.path = %q\n", path)
	head := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\n", path, srvAddr)
	set := func(k, v string) {
		fmt.Fprintf(&b, "wrk.headers[%q] = %q\n", k, v)
		head += k + ": " + v + "\r\n"
	}
	if w.bigHeads {
		for _, h := range browserHeaders {
			set(h[0], h[1])
		}
	}
	if !w.keepAlive {
		set("Connection", "close")
	}
	head += "\r\n"
	name := strings.NewReplacer(" ", "", ",", "-", "~", "", "/", "_").Replace(w.name) + strconv.Itoa(len(path)) + ".lua"
	p := filepath.Join(dir, name)
	return p, len(head), os.WriteFile(p, []byte(b.String()), 0o644)
}

// wrkResult is one wrk run.
type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
	requests int
	errors   int           // socket errors and non-2xx/3xx responses
	agentCPU time.Duration // the agent's CPU time (user + system, all threads) per request
}

// runWrk runs wrk from the client namespace against port for d.
func runWrk(script string, port int, d time.Duration, conns int) (wrkResult, error) {
	url := fmt.Sprintf("http://%s:%d/", srvAddr, port)
	c := inNS(cliNS, "wrk", "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", int(d.Seconds())),
		"--latency", "--timeout", "5s", "-s", script, url)
	out, err := c.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w: %s", err, bytes.TrimSpace(out))
	}
	r, err := parseWrk(out)
	if err != nil {
		return r, fmt.Errorf("parsing wrk output: %w:\n%s", err, out)
	}
	return r, nil
}

// parseWrk reads requests/s, the 50th and 99th latency percentiles and the
// error counts from wrk --latency output.
func parseWrk(out []byte) (wrkResult, error) {
	var r wrkResult
	var haveRPS, have50, have99 bool
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "Requests/sec:":
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, err
			}
			r.rps, haveRPS = v, true
		case len(f) == 2 && (f[0] == "50%" || f[0] == "99%"):
			v, err := parseDur(f[1])
			if err != nil {
				return r, err
			}
			if f[0] == "50%" {
				r.p50, have50 = v, true
			} else {
				r.p99, have99 = v, true
			}
		case len(f) >= 3 && f[1] == "requests" && f[2] == "in":
			n, err := strconv.Atoi(f[0])
			if err != nil {
				return r, err
			}
			r.requests = n
		case len(f) >= 3 && f[0] == "Socket" && f[1] == "errors:":
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, _ := strconv.Atoi(strings.TrimSuffix(f[i+1], ","))
				r.errors += n
			}
		case len(f) == 5 && f[0] == "Non-2xx":
			n, _ := strconv.Atoi(f[4])
			r.errors += n
		}
	}
	if !haveRPS || !have50 || !have99 {
		return r, fmt.Errorf("no requests/s or latency percentiles")
	}
	return r, nil
}

// parseDur reads wrk's durations: 812.00us, 1.23ms, 2.00s, 1.00m.
func parseDur(s string) (time.Duration, error) {
	for _, u := range []struct {
		suf string
		d   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}} {
		if v, ok := strings.CutSuffix(s, u.suf); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(f * float64(u.d)), nil
		}
	}
	return 0, fmt.Errorf("bad duration %q", s)
}
