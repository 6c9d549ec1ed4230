package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// agentList is a repeatable --agent flag.
type agentList []string

func (a *agentList) String() string { return strings.Join(*a, ",") }

func (a *agentList) Set(v string) error {
	if v == "" {
		return errors.New("empty agent URL")
	}
	if !strings.Contains(v, "://") {
		v = "http://" + v
	}
	*a = append(*a, strings.TrimRight(v, "/"))
	return nil
}

// discoverAgents finds the agents of a cluster when no --agent is given
// (discoverFromCluster: the axon-agent pods, through the API server).
var discoverAgents func(ctx context.Context) ([]string, error)

// agentsOf returns the --agent URLs, or the discovered ones.
func agentsOf(ctx context.Context, list agentList) ([]string, error) {
	if len(list) > 0 {
		return list, nil
	}
	if discoverAgents == nil {
		return nil, fmt.Errorf("%w: no --agent URL given (cluster discovery is not built in)", errUsage)
	}
	return discoverAgents(ctx)
}

// outputFlags are the -o and --color flags of the traffic commands.
type outputFlags struct {
	format string
	color  string
}

func (o *outputFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&o.format, "o", "table", "output: table or json")
	fs.StringVar(&o.color, "color", "auto", "colours: auto (only on a terminal), always or never")
}

func (o *outputFlags) check() error {
	if o.format != "table" && o.format != "json" {
		return fmt.Errorf("%w: -o %q: want table or json", errUsage, o.format)
	}
	if o.color != "auto" && o.color != "always" && o.color != "never" {
		return fmt.Errorf("%w: --color %q: want auto, always or never", errUsage, o.color)
	}
	return nil
}

// colors reports whether to colour output written to w.
func (o *outputFlags) colors(w io.Writer) bool {
	switch o.color {
	case "always":
		return true
	case "never":
		return false
	}
	return isTerminal(w) && os.Getenv("NO_COLOR") == ""
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// ANSI colours.
const (
	cRed    = "\x1b[31m"
	cGreen  = "\x1b[32m"
	cYellow = "\x1b[33m"
	cDim    = "\x1b[2m"
	cBold   = "\x1b[1m"
	cReset  = "\x1b[0m"
)

// paint wraps s in colour c when on.
func paint(on bool, c, s string) string {
	if !on || c == "" {
		return s
	}
	return c + s + cReset
}

// getAgent fetches path from one agent.
func getAgent(ctx context.Context, base, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("agent %s: %w", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("agent %s: %s: %s", base, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}
