// Command axon-agent enforces Axon HTTP policies on one node.
//
//	axon-agent --policy-dir DIR --attach IFACE[,IFACE...] --metrics-addr HOST:PORT
//	           [--bundle PATH_OR_URL ...] [--bundle-interval 30s]
//	axon-agent --kubeconfig FILE | --in-cluster [--node-name NODE] [--attach IFACE,...]
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
	"time"

	"github.com/axon-dev/axon/agent"
	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/cluster"
	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/agent/observe"
	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/bundle"
	"github.com/axon-dev/axon/policy/source"
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
	maxFlows := fs.Uint("max-flows", 65536, "connections to policed endpoints tracked at once; when full, new ones to enforced endpoints are refused (a new size needs fresh pins: axon-agent cleanup; new --max-path-rows, --max-source-classes, --max-pod-ips do not)")
	var bundles []string
	fs.Func("bundle", "OPA bundle whose .rego modules and data the policies may use (spec.rego.file: its path in the bundle): a directory, a .tar.gz from `opa build`, or an http(s) bundle service URL polled with ETags; repeatable", func(s string) error {
		bundles = append(bundles, s)
		return nil
	})
	bundleInterval := fs.Duration("bundle-interval", bundle.DefaultInterval, "how often --bundle sources are polled")
	kubeconfig := fs.String("kubeconfig", "", "cluster mode: read pods and policies from the API server of this kubeconfig file (instead of --policy-dir)")
	inCluster := fs.Bool("in-cluster", false, "cluster mode with the pod's service account (as run by the DaemonSet)")
	nodeName := fs.String("node-name", os.Getenv("NODE_NAME"), "cluster mode: this node's name (spec.nodeName of its pods); default $NODE_NAME")
	heartbeat := fs.Duration("heartbeat", cluster.DefaultHeartbeat, "cluster mode: renewal period of this node's AxonNodeStatus when nothing in it changes")
	pathHash := fs.Bool("path-hash", true, "decide path rows by hash lookups where their trie allows (faster; each such row also takes about 250-300 bytes of kernel memory in path_hash); false: by the paths LPM trie alone")
	gapSlack := fs.Duration("audit-gap-slack", datapath.DefaultGapSlack, "how long after a frame an Audit-only endpoint let through unparsed (an audit gap: a fragment, a tagged frame) new connections to it count as open at it, and are reset once it is enforced; at least the servers' SYN_RECV time (63 s with Linux's default tcp_synack_retries)")
	eventRate := fs.Uint("event-rate", 1000, "deny and audit_deny events per second and CPU the datapath sends to the log and /v1/events (counts are exact whatever the rate)")
	setSizes := datapath.RegisterLimitFlagsToSet(fs)
	compileTimeout := fs.Duration("compile-timeout", agent.CompileTimeout, "longest compilation of the policy set; one that takes longer fails like a broken file (the table in force stays)")
	observeHTTP := fs.Bool("observe", true, "observe the HTTP traffic of pods an HTTPMonitor selects (RED metrics on /metrics); nothing is attached while no pod is monitored")
	observeHooks := fs.String("observe-hooks", "auto", "hooks the observer runs on: tcp (the return of the kernel's tcp_recvmsg/tcp_sendmsg, where it attaches tracing programs to functions, Linux 5.17+), socket (the kernel's socket read/write tracepoints, Linux 6.3+), syscall (every syscall's return, older kernels), or auto (the first of these the kernel runs)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: axon-agent --policy-dir DIR --attach IFACE[,IFACE...] [--metrics-addr HOST:PORT]\n"+
			"       axon-agent --kubeconfig FILE | --in-cluster [--node-name NODE] [--attach IFACE,...]\n"+
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
	clusterMode := *kubeconfig != "" || *inCluster
	switch {
	case fs.NArg() > 0,
		!clusterMode && (*policyDir == "" || *ifaces == ""),
		clusterMode && (*policyDir != "" || len(bundles) > 0):
		fs.Usage()
		return 2
	case clusterMode && *nodeName == "":
		fmt.Fprintln(os.Stderr, "axon-agent: cluster mode needs --node-name or $NODE_NAME")
		return 2
	}
	am, err := attach.ParseMode(*mode)
	if err != nil {
		fmt.Fprintln(os.Stderr, "axon-agent:", err)
		return 2
	}
	if *compileTimeout <= 0 {
		fmt.Fprintln(os.Stderr, "axon-agent: --compile-timeout must be positive")
		return 2
	}
	agent.CompileTimeout = *compileTimeout
	// The decision maps are sized by the --max-* flags, and every table is
	// checked against the same sizes (datapath.Fit) before it is applied.
	if err := setSizes(); err != nil {
		fmt.Fprintln(os.Stderr, "axon-agent:", err)
		return 2
	}
	hooks, err := observe.ParseHooks(*observeHooks)
	if err != nil {
		fmt.Fprintln(os.Stderr, "axon-agent:", err)
		return 2
	}
	if st, err := os.Stat(*policyDir); !clusterMode && (err != nil || !st.IsDir()) {
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
	// The Pods and HTTPMonitors in force, for the observer and the labels
	// of denial series: the directory with its bundles, or the API server's.
	// The observer rereads them every few seconds and the agent after every
	// apply: through the loader's decode cache, only files changed since
	// the policies were loaded are decoded again.
	objFiles := source.NewCache()
	load := agent.NewSharedDirLoader(objFiles, nil)
	var bw *bundle.Watcher
	var extras func() []source.Extra
	if len(bundles) > 0 {
		bw = bundle.NewWatcher(bundles, log)
		// An update the policies do not compile with is refused: the last
		// good bundle stays, and edits of the directory still apply.
		dir := *policyDir
		bw.Check = func(candidate, current []*bundle.Bundle) error {
			return agent.CheckExtras(dir, bundle.Extras(candidate), bundle.Extras(current))
		}
		// The first poll before the first load; a source that fails now is
		// polled again every interval (policies that use it do not compile
		// meanwhile, and the agent says so on /readyz).
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, _ = bw.Poll(pctx)
		cancel()
		select {
		case <-bw.Changed(): // the first load reads what this poll got
		default:
		}
		cfg.Reloads = bw.Changed()
		extras = func() []source.Extra { return bundle.Extras(bw.Bundles()) }
		load = agent.NewSharedDirLoader(objFiles, extras)
	}
	var src *cluster.Source
	if clusterMode {
		if src, err = clusterSource(*kubeconfig, *nodeName, *heartbeat, log); err != nil {
			log.Error("starting agent", "error", err)
			return 1
		}
		cfg.Source = src
		log.Info("starting in cluster mode", "node", *nodeName, "server", src.Server(), "interfaces", names,
			"pin_dir", cfg.PinDir, "attach_mode", string(am))
	} else {
		log.Info("starting", "policy_dir", cfg.PolicyDir, "interfaces", names, "pin_dir", cfg.PinDir,
			"attach_mode", string(am))
	}
	cfg.Objects = func(files map[string][]byte) (*source.Set, source.Problems, error) {
		var ex []source.Extra
		if extras != nil {
			ex = extras()
		}
		return objFiles.LoadFiles(*policyDir, files, ex...)
	}
	objects := func() (*source.Set, source.Problems, error) { return cfg.Objects(nil) }
	if src != nil {
		objects = src.Set
		cfg.Objects = func(map[string][]byte) (*source.Set, source.Problems, error) { return src.Set() }
	}
	if l, err := datapath.TableLimits(); err == nil {
		log.Info("table sizes", "max_path_rows", l[bpf.AxonMapPaths], "max_source_classes", l[bpf.AxonMapClasses],
			"max_pod_ips", l[bpf.AxonMapPodIps])
	}
	dp, dpErr := openDatapath(*pinDir, uint32(*maxFlows), uint32(*eventRate), *gapSlack, *pathHash)
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
		a, err = agent.New(cfg, dp, load)
	}
	if err != nil {
		log.Error("starting agent", "error", err)
		return 1
	}
	if bw != nil {
		if err := bw.Register(a.Registry()); err != nil {
			log.Error("starting agent", "error", err)
			return 1
		}
		go bw.Run(ctx, *bundleInterval)
	}
	if src != nil {
		if err := src.Start(ctx, a.Ready); err != nil {
			log.Error("starting agent", "error", err)
			return 1
		}
	}
	if *observeHTTP {
		octx, stopObserver := context.WithCancel(ctx)
		wait := startObserver(octx, a, objects, hooks, log)
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
