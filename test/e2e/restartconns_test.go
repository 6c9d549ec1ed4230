package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"
)

// An agent restart leaves the connections it finds open alone where the
// pinned TCX programs ran first all along (their hooks' revisions did not
// move): the flows they keep are current. A keep-alive connection that
// served a request before the agent was killed serves the next ones after
// a new agent adopts the pins, also when the new agent replaces the
// decision maps (other sizes). A restart used to forget every flow of every
// interface: each open connection was reset at its next request. clsact
// hooks have no revision: a restart in clsact mode still forgets the flows
// (agent/README.md).
func TestRestartKeepsOpenConnections(t *testing.T) {
	cases := []struct {
		name, mode string
		args       []string
	}{
		{"tcx", "tcx", nil},
		{"tcx resized", "tcx", []string{"--max-path-rows", "4096"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tp := newTopoOn(t, fmt.Sprintf("10.87.%d", 1+i))
			writeFile(t, tp.dir, "orders.yaml", ordersPolicy("Enforce"))
			cfg := agentproc.Config{PolicyDir: tp.dir, PinDir: testPinDir(t), Ifaces: tp.ports(), Mode: c.mode}
			a := agentproc.Start(t, agentBin, cfg, 30*time.Second)

			client := tp.web.HTTPClient(10*time.Second, true)
			dialed := 0
			get := func(path string) string {
				trace := &httptrace.ClientTrace{GotConn: func(ci httptrace.GotConnInfo) {
					if !ci.Reused {
						dialed++
					}
				}}
				req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", tp.url+path, nil)
				if err != nil {
					t.Fatal(err)
				}
				return outcome(client.Do(req))
			}
			if got := get("/api/allowed-before"); got != "200" {
				t.Fatalf("an allowed request before the restart: got %s, want 200", got)
			}
			a.Kill()
			cfg.Args = c.args
			b := agentproc.Start(t, agentBin, cfg, 30*time.Second)
			for i := range 3 {
				if got := get(fmt.Sprintf("/api/allowed-after-%d", i)); got != "200" {
					t.Errorf("allowed request %d after the restart, on the connection opened before it: got %s, want 200", i, got)
				}
			}
			if dialed != 1 {
				t.Errorf("the client dialed %d connections, want 1 kept alive across the restart", dialed)
			}
			if got := goOutcome(tp.batch, "GET", tp.url+"/api/denied"); got != "reset" {
				t.Errorf("a denied request after the restart: got %s, want reset", got)
			}
			if t.Failed() {
				t.Logf("the restarted agent's log:\n%s", b.Logs.String())
			}
		})
	}
}
