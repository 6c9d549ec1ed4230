// Command axon-agent enforces Axon HTTP policies on one node.
//
//	axon-agent --policy-dir DIR --attach IFACE[,IFACE...] --metrics-addr HOST:PORT
//	axon-agent cleanup [--pin-dir DIR]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/axon-dev/axon/agent"
	"github.com/axon-dev/axon/agent/attach"
)

const defaultPinDir = "/sys/fs/bpf/axon"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "cleanup" {
		os.Exit(cleanup(os.Args[2:]))
	}
	os.Exit(run(os.Args[1:]))
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("bad --log-level %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("bad --log-format %q (want text or json)", format)
}

func run(args []string) int {
	fs := flag.NewFlagSet("axon-agent", flag.ContinueOnError)
	policyDir := fs.String("policy-dir", "", "directory of policy files (YAML Namespaces, Pods, L7NetworkPolicies, .rego)")
	ifaces := fs.String("attach", "", "comma-separated interfaces to attach to, both directions")
	metricsAddr := fs.String("metrics-addr", "127.0.0.1:9090", "HOST:PORT for /metrics, /healthz, /readyz, /v1/events and /v1/denials")
	pinDir := fs.String("pin-dir", defaultPinDir, "bpffs directory for Axon's pinned links, programs and maps")
	mode := fs.String("attach-mode", "auto", "attach mechanism: auto (TCX if the kernel has it), tcx or clsact")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	logDecisions := fs.Bool("log-decisions", false, "log every deny and audit_deny decision (rate-limited by the datapath)")
	maxFlows := fs.Uint("max-flows", 65536, "connections to policed endpoints tracked at once; when full, new ones to enforced endpoints are refused (a new size needs fresh pins: axon-agent cleanup)")
	eventRate := fs.Uint("event-rate", 1000, "deny and audit_deny events per second and CPU the datapath sends to the log and /v1/events (counts are exact whatever the rate)")
	observeHTTP := fs.Bool("observe", true, "observe the HTTP traffic of pods an HTTPMonitor selects (RED metrics on /metrics); nothing is attached while no pod is monitored")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: axon-agent --policy-dir DIR --attach IFACE[,IFACE...] [--metrics-addr HOST:PORT]\n"+
			"       axon-agent cleanup [--pin-dir DIR]   (stop the agent first: it re-attaches what it misses)\n\n"+
			"Stopping or killing the agent leaves enforcement in place (pinned under --pin-dir);\n"+
			"a restarted agent adopts it. Only `axon-agent cleanup` removes it.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, err := newLogger(*logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(os.Stderr, "axon-agent:", err)
		return 2
	}
	if *policyDir == "" || *ifaces == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	am, err := attach.ParseMode(*mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "axon-agent:", err)
		return 2
	}
	if st, err := os.Stat(*policyDir); err != nil || !st.IsDir() {
		fmt.Fprintf(os.Stderr, "axon-agent: --policy-dir %s is not a directory\n", *policyDir)
		return 2
	}
	var names []string
	for _, n := range strings.Split(*ifaces, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	cfg := agent.Config{
		PolicyDir: *policyDir, Interfaces: names, MetricsAddr: *metricsAddr,
		PinDir: *pinDir, AttachMode: am, Logger: log, LogDecisions: *logDecisions,
	}
	log.Info("starting", "policy_dir", cfg.PolicyDir, "interfaces", names, "pin_dir", cfg.PinDir,
		"attach_mode", string(am))
	dp, dpErr := openDatapath(*pinDir, uint32(*maxFlows), uint32(*eventRate), log)
	var a *agent.Agent
	if dpErr != nil {
		// Fail closed and loudly: no readiness, the reason on /readyz and in
		// the log; pinned programs of an earlier agent stay in force.
		a, err = agent.New(cfg, nil, nil)
		if err == nil {
			a.Fail(fmt.Errorf("loading datapath: %w", dpErr))
		}
	} else {
		defer dp.Close()
		a, err = agent.New(cfg, dp, loadPolicy)
	}
	if err != nil {
		log.Error("starting agent", "error", err)
		return 1
	}
	if *observeHTTP {
		octx, stopObserver := context.WithCancel(ctx)
		wait := startObserver(octx, a, *policyDir, log)
		defer func() { stopObserver(); wait() }()
	}
	if err := a.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("agent stopped", "error", err)
		return 1
	}
	return 0
}

func cleanup(args []string) int {
	fs := flag.NewFlagSet("axon-agent cleanup", flag.ContinueOnError)
	pinDir := fs.String("pin-dir", defaultPinDir, "bpffs directory Axon pinned into")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	log, _ := newLogger("text", "info")
	if err := attach.Cleanup(*pinDir, log); err != nil {
		log.Error("cleanup incomplete", "error", err)
		return 1
	}
	log.Info("cleanup done: nothing of Axon is attached or pinned", "pin_dir", *pinDir)
	return 0
}
