package promserver

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
)

// Require returns the path of the prometheus binary. Without it the test
// skips, or fails where every test must run (CI=true, AXON_REQUIRE_ROOT=1;
// `make deps` installs it).
func Require(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" || os.Getenv("AXON_REQUIRE_ROOT") == "1" {
		t.Fatal("prometheus not installed (make deps, or apt-get install prometheus)")
	}
	t.Skip("prometheus not installed (apt-get install prometheus)")
	return ""
}

// Server is one running Prometheus.
type Server struct {
	URL  string // http://127.0.0.1:port
	t    testing.TB
	logs *agentproc.SyncBuffer
}

const config = `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: [%s]
scrape_configs:
- job_name: %s
  static_configs:
  - targets: [%s]
`

// Start runs Prometheus scraping targets (host:port) as job job and
// evaluating the rule files (absolute paths) every second; it is stopped at
// cleanup and its log printed if the test failed.
func Start(t testing.TB, job string, targets []string, ruleFiles ...string) *Server {
	t.Helper()
	bin := Require(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, config, strings.Join(ruleFiles, ", "), job, strings.Join(targets, ", ")), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	s := &Server{URL: "http://" + addr, t: t, logs: &agentproc.SyncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "--config.file="+cfg, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("starting prometheus: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", s.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus not ready after 30 s: %v\n%s", err, s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type response struct {
	Status string          `json:"status"`
	Error  string          `json:"error"`
	Data   json.RawMessage `json:"data"`
}

func (s *Server) get(path string, q url.Values) (json.RawMessage, error) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(s.URL + path + "?" + q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: %d %s", path, resp.StatusCode, body)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s", path, r.Error)
	}
	return r.Data, nil
}

// Sample is one series of an instant query's result.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Query runs an instant query now (/api/v1/query) and returns its series;
// a scalar or string result is one sample without labels.
func (s *Server) Query(expr string) ([]Sample, error) {
	data, err := s.get("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	var r struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	switch r.ResultType {
	case "vector":
		var v []Sample
		err := json.Unmarshal(r.Result, &v)
		return v, err
	case "scalar", "string":
		var v [2]any
		err := json.Unmarshal(r.Result, &v)
		return []Sample{{Value: v}}, err
	}
	return nil, fmt.Errorf("unexpected result type %q", r.ResultType)
}

// LabelValues lists the values of label on the series matching selector
// (/api/v1/label/<label>/values), as Grafana's label_values() does.
func (s *Server) LabelValues(label, selector string) ([]string, error) {
	data, err := s.get("/api/v1/label/"+label+"/values", url.Values{"match[]": {selector}})
	if err != nil {
		return nil, err
	}
	var v []string
	err = json.Unmarshal(data, &v)
	return v, err
}

// Wait polls expr until it returns at least one series, failing t after
// timeout.
func (s *Server) Wait(expr string, timeout time.Duration) []Sample {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := s.Query(expr)
		if err == nil && len(v) > 0 {
			return v
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("prometheus: %s returned %v (%v) for %v", expr, v, err, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
