package cluster

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// Verdicts as a client sees them.
const (
	allow = "allow" // 200 from the server
	deny  = "deny"  // connection reset, the server never saw the request
)

// probe is one request from a pod to a server.
type probe struct {
	from *pod
	to   *netns.Server
	path string
	want string
}

func (p probe) String() string {
	return fmt.Sprintf("%s -> %s GET %s", p.from.Name, p.to.Addr, p.path)
}

var probeSeq atomic.Int64

// send runs one probe with a path made unique by a query, and returns the
// verdict (allow, deny, or a description of anything else). A request
// answered by a reset must not be in the server's log: that would be a
// denied request reaching the server, which fails the test at once.
func send(t *testing.T, p probe) string {
	t.Helper()
	target := fmt.Sprintf("%s?probe=%d", p.path, probeSeq.Add(1))
	c := p.from.HTTPClient(3*time.Second, false)
	resp, err := c.Get("http://" + p.to.Addr + target)
	if err != nil {
		if errors.Is(err, syscall.ECONNRESET) {
			time.Sleep(20 * time.Millisecond) // a request let through would be logged by now
			if p.to.Saw(" " + target + " ") {
				t.Fatalf("%s: the client got a reset but the server saw the request", p)
			}
			return deny
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return "timeout"
		}
		return "error: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK && p.to.Saw(" "+target+" ") {
		return allow
	}
	return fmt.Sprintf("status %d", resp.StatusCode)
}

// waitVerdicts sends every probe until all get their verdict, and returns
// how long that took; it fails t after within.
func waitVerdicts(t *testing.T, within time.Duration, probes ...probe) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		var wrong []string
		for _, p := range probes {
			if got := send(t, p); got != p.want {
				wrong = append(wrong, fmt.Sprintf("%s: %s, want %s", p, got, p.want))
			}
		}
		if len(wrong) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("verdicts not as wanted after %v:\n%s", within, strings.Join(wrong, "\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkVerdicts sends every probe rounds times and fails t on any verdict
// that is not the wanted one: once converged, verdicts do not flap.
func checkVerdicts(t *testing.T, rounds int, probes ...probe) {
	t.Helper()
	for range rounds {
		for _, p := range probes {
			if got := send(t, p); got != p.want {
				t.Errorf("%s: %s, want %s", p, got, p.want)
			}
		}
	}
}
