package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/agentproc"

	"github.com/axon-dev/axon/test/netns"
)

// agentBin and axonBin are the axon-agent and axon binaries built once for
// the whole package.
var agentBin, axonBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		// Every test skips with "needs root"; nothing to build.
		return m.Run()
	}
	bin, remove, err := agentproc.Build()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer remove()
	agentBin = bin
	cli, removeCLI, err := agentproc.BuildCommand("axon")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer removeCLI()
	axonBin = cli
	return m.Run()
}

// agentProc is one running axon-agent.
type agentProc = agentproc.Proc

// testPinDir returns a fresh bpffs directory for one test, removed (with
// everything attached from it) at cleanup.
func testPinDir(t *testing.T) string { return agentproc.PinDir(t, agentBin, "axon-e2e") }

func runCleanup(t *testing.T, pinDir string) { agentproc.Cleanup(t, agentBin, pinDir) }

// startAgent runs axon-agent on policyDir attached to ifaces and waits until
// /readyz answers 200. The process is killed at cleanup; its pins stay for
// the pin directory's own cleanup.
func startAgent(t *testing.T, policyDir, pinDir string, ifaces ...string) *agentProc {
	t.Helper()
	return startAgentMode(t, "auto", policyDir, pinDir, ifaces...)
}

// startAgentMode is startAgent with an --attach-mode (auto, tcx, clsact).
func startAgentMode(t *testing.T, mode, policyDir, pinDir string, ifaces ...string) *agentProc {
	t.Helper()
	return agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: policyDir, PinDir: pinDir, Ifaces: ifaces, Mode: mode}, 15*time.Second)
}

// startAgentWith is startAgent with more flags.
func startAgentWith(t *testing.T, policyDir, pinDir string, args []string, ifaces ...string) *agentProc {
	t.Helper()
	return agentproc.Start(t, agentBin, agentproc.Config{PolicyDir: policyDir, PinDir: pinDir, Ifaces: ifaces, Args: args}, 15*time.Second)
}

func launchAgent(t *testing.T, policyDir, pinDir string, ifaces ...string) *agentProc {
	t.Helper()
	return launchAgentMode(t, "auto", policyDir, pinDir, ifaces...)
}

func launchAgentMode(t *testing.T, mode, policyDir, pinDir string, ifaces ...string) *agentProc {
	t.Helper()
	return agentproc.Launch(t, agentBin, agentproc.Config{PolicyDir: policyDir, PinDir: pinDir, Ifaces: ifaces, Mode: mode})
}

// writeFile writes one file of a policy directory atomically (rename), as
// editors and ConfigMap updates do.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// outcome is what a client saw: "200" or another status, "reset", "timeout"
// or "error: ...".
func curlOutcome(t *testing.T, h *netns.Host, url string, args ...string) string {
	t.Helper()
	res, err := h.Curl(context.Background(), append(args, "--max-time", "10", url)...)
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	if res.ExitCode == 0 {
		return fmt.Sprint(res.Status)
	}
	return curlFailure(res.ExitCode, res.Output)
}

// curlFailure names a failed curl run: "reset" only for a TCP reset (exit 56
// with "Connection reset by peer"), "timeout" for exit 28, "closed" for a
// connection the server closed without answering (exit 52), else the error.
// A server that closes is not a denial: Axon resets.
func curlFailure(exit int, output string) string {
	switch {
	case exit == 56 && strings.Contains(strings.ToLower(output), "connection reset by peer"):
		return "reset"
	case exit == 28:
		return "timeout"
	case exit == 52:
		return "closed"
	}
	return fmt.Sprintf("error: curl exit %d: %s", exit, strings.TrimSpace(output))
}

// goOutcome sends one request with a Go client from h.
func goOutcome(h *netns.Host, method, url string) string {
	c := h.HTTPClient(10*time.Second, false)
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return "error: " + err.Error()
	}
	return outcome(c.Do(req))
}

// outcome names the result of one Go client request: the status, "reset"
// for a TCP reset, "timeout", or "error: ..." (which includes a server that
// closed the connection without answering: that is not a denial).
func outcome(resp *http.Response, err error) string {
	if err != nil {
		if isReset(err) {
			return "reset"
		}
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			return "timeout"
		}
		return "error: " + err.Error()
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return fmt.Sprint(resp.StatusCode)
}

// isReset reports whether err is a TCP reset of the connection, as Axon's
// datapath sends for a denied request. An EOF (the server closed) is not.
func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET)
}
