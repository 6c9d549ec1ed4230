package webhook

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// A module must not make the webhook (or the agent) send requests while it
// is compiled: http.send and the other built-ins that reach the network or
// the host are refused at admission, and nothing is sent.
func TestNetworkBuiltinsAreRefusedAndNotCalled(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	for _, body := range []string{
		"allow if {\n\thttp.send({\"method\": \"get\", \"url\": \"" + srv.URL + "\"}).status_code == 200\n}\n",
		"allow if {\n\tinput.method == \"GET\"\n\tr := http.send({\"method\": \"get\", \"url\": \"" + srv.URL + "\"})\n\tr.status_code == 200\n}\n",
		"allow if {\n\tcount(net.lookup_ip_addr(\"localhost\")) > 0\n}\n",
	} {
		errs, _ := ValidateL7NetworkPolicy(context.Background(), regoPolicy(regoHead+body), nil, Limits{})
		if len(errs) == 0 {
			t.Errorf("admitted: %q", body)
		} else {
			t.Logf("refused: %v", errs.ToAggregate())
		}
	}
	if n := hits.Load(); n > 0 {
		t.Errorf("compiling the modules sent %d requests", n)
	}
}
