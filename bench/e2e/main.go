package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

type config struct {
	agentBin string
	work     string
	out      string
	pinDir   string
	rounds   int
	duration time.Duration
	conns    int
	quick    bool
	cpRounds int // control-plane repetitions per change size
	cpPods   int // identities of the control-plane folder
	phases   string
	topo     string
}

func main() {
	var c config
	flag.StringVar(&c.agentBin, "agent", "bin/axon-agent", "the axon-agent binary")
	flag.StringVar(&c.work, "work", "/tmp/axon-bench-e2e", "scratch folder (recreated)")
	flag.StringVar(&c.out, "out", "bench/RESULTS.md", "where to write the results")
	flag.StringVar(&c.pinDir, "pin-dir", "/sys/fs/bpf/axon-bench-e2e", "the agent's pin directory")
	flag.IntVar(&c.rounds, "rounds", 5, "interleaved rounds")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "wrk duration of one measurement")
	flag.IntVar(&c.conns, "connections", 16, "wrk connections")
	flag.BoolVar(&c.quick, "quick", false, "smoke run: 2 rounds of 1 s, one control-plane repetition")
	flag.IntVar(&c.cpRounds, "cp-rounds", 3, "control-plane repetitions per change size")
	flag.IntVar(&c.cpPods, "cp-pods", 200, "pod identities of the control-plane folder")
	flag.StringVar(&c.phases, "phases", "throughput,control,memory", "which parts to run (comma-separated)")
	flag.StringVar(&c.topo, "topo", "axbe,10.94.0", "prefix of the topology's link and namespace names, and its /24")
	flag.StringVar(&agentLogLevel, "agent-log-level", agentLogLevel, "the agents' --log-level (debug: each reload's stages in the agent's log)")
	flag.Parse()
	if c.quick {
		c.rounds, c.duration, c.cpRounds = 2, time.Second, 1
	}
	if err := runAll(c); err != nil {
		fmt.Fprintln(os.Stderr, "bench-e2e:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func runAll(c config) (err error) {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network namespaces, BPF)")
	}
	if prefix, net, ok := strings.Cut(c.topo, ","); !ok {
		return fmt.Errorf("--topo %q: want prefix,net", c.topo)
	} else if err := setTopo(prefix, net); err != nil {
		return err
	}
	for _, tool := range []string{"wrk", "nginx", "haproxy", "ip", c.agentBin} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("missing %s (scripts/bench-e2e.sh installs it)", tool)
		}
	}
	if err := os.RemoveAll(c.work); err != nil {
		return err
	}
	if err := os.MkdirAll(c.work, 0o755); err != nil {
		return err
	}
	start := time.Now()
	res := &results{cfg: c, started: start}
	res.collectMachine()

	_ = cleanupPins(c.agentBin, c.pinDir)
	if err := setupTopo(); err != nil {
		return err
	}
	defer teardownTopo()
	stopStats, err := enableStats()
	if err != nil {
		return err
	}
	defer stopStats()

	if strings.Contains(c.phases, "throughput") {
		// The servers serve the throughput phase only.
		nginx, err := startNginx(c.work)
		if err != nil {
			return err
		}
		defer nginx.stop()
		rules1k, rules10 := ruleSet(1000), ruleSet(10)
		hap, err := startHAProxy(c.work, proxyPort, rules1k)
		if err != nil {
			return err
		}
		defer hap.stop()
		hap10, err := startHAProxy(c.work, proxy10Prt, rules10)
		if err != nil {
			return err
		}
		defer hap10.stop()
		logf("throughput: %d rounds x %d scenarios x %d workloads x %v", c.rounds, len(scenarioNames), len(workloads), c.duration)
		if err := throughput(c, res); err != nil {
			return err
		}
	}
	if strings.Contains(c.phases, "control") {
		logf("control plane")
		if err := controlPlane(c, res); err != nil {
			return err
		}
	}
	if strings.Contains(c.phases, "memory") {
		logf("agent memory")
		if err := memory(c, res); err != nil {
			return err
		}
	}
	res.elapsed = time.Since(start)
	if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(c.out, []byte(res.markdown()), 0o644); err != nil {
		return err
	}
	logf("wrote %s in %v", c.out, res.elapsed.Round(time.Second))
	return nil
}

// scenarioNames in the order each round runs them.
var scenarioNames = []string{"A", "D", "D10", "B", "B10", "C"}

var scenarioText = map[string]string{
	"A":   "no agent: wrk -> nginx",
	"B":   "Axon enforcing 1,000 rules that allow the load",
	"B10": "Axon enforcing 10 rules",
	"C":   "B plus the socket observer (HTTPMonitor on the server)",
	"D":   "HAProxy in the server's namespace with the 1,000 rules as ACLs",
	"D10": "HAProxy with the 10 rules as ACLs",
}

// scenario is what one measurement runs against.
type scenario struct {
	name  string
	port  int
	rules int // size of the rule set the load path is chosen from
	progs progSet
	agent int // the agent's pid (Axon scenarios), for its CPU time
}

func throughput(c config, res *results) error {
	scripts := map[string]string{} // workload name + rules -> script
	for _, n := range []int{1000, 10} {
		for _, w := range workloads {
			p, size, err := wrkScript(c.work, w, loadPath(n))
			if err != nil {
				return err
			}
			scripts[fmt.Sprint(w.name, n)] = p
			if n == 1000 {
				res.requestBytes[w.name] = size
			}
		}
	}
	policyDir := filepath.Join(c.work, "policies")
	measure := func(round int, s scenario) error {
		// One short warm-up run so connections, caches and flows settle.
		if _, err := runWrk(scripts[fmt.Sprint(workloads[0].name, s.rules)], s.port, time.Second, c.conns); err != nil {
			return fmt.Errorf("%s warm-up: %w", s.name, err)
		}
		for _, w := range workloads {
			var before map[string]progStat
			var err error
			if s.progs != nil {
				if before, err = s.progs.read(); err != nil {
					return err
				}
			}
			cpu0 := processCPU(s.agent)
			r, err := runWrk(scripts[fmt.Sprint(w.name, s.rules)], s.port, c.duration, c.conns)
			if err != nil {
				return fmt.Errorf("%s %s: %w", s.name, w.name, err)
			}
			if s.agent != 0 {
				r.agentCPU = (processCPU(s.agent) - cpu0) / time.Duration(max(r.requests, 1))
			}
			var cost map[string]float64
			if s.progs != nil {
				after, err := s.progs.read()
				if err != nil {
					return err
				}
				cost = costPerRun(before, after)
			}
			res.add(s.name, w.name, r, cost)
			logf("round %d %-3s %-40s %9.0f req/s  p50 %-8v p99 %-8v errors %d %s", round, s.name, w.name, r.rps, r.p50, r.p99, r.errors, fmtCost(cost))
		}
		return nil
	}
	for round := 1; round <= c.rounds; round++ {
		for _, s := range []scenario{{name: "A", port: nginxPort, rules: 1000}, {name: "D", port: proxyPort, rules: 1000}, {name: "D10", port: proxy10Prt, rules: 10}} {
			if err := measure(round, s); err != nil {
				return err
			}
		}
		if err := res.checkProxyDenies(); err != nil {
			return err
		}
		if err := axonRound(c, res, policyDir, round, measure); err != nil {
			return err
		}
	}
	return nil
}

// axonRound runs B, B10 and C with one agent: the folder is switched
// between them and each switch waits for the new generation.
func axonRound(c config, res *results, policyDir string, round int, measure func(int, scenario) error) (err error) {
	if err := writeRuleFolder(policyDir, ruleSet(1000), false); err != nil {
		return err
	}
	// The observer loads its programs at start and attaches them when a pod
	// is monitored: they are the programs of their names new since now.
	before := programIDs()
	a, err := startAgent(c.agentBin, c.work, c.pinDir, policyDir, true, fmt.Sprintf("agent-round%d.log", round))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := a.stopAndCleanup(); err == nil {
			err = cerr
		}
	}()
	progs, err := axonPrograms(c.pinDir)
	if err != nil {
		return err
	}
	defer progs.close()
	if err := res.checkAxonDenies(); err != nil {
		return err
	}
	if err := measure(round, scenario{name: "B", port: nginxPort, rules: 1000, progs: progs, agent: a.pid()}); err != nil {
		return err
	}
	if err := switchFolder(a, policyDir, ruleSet(10), false); err != nil {
		return err
	}
	if err := measure(round, scenario{name: "B10", port: nginxPort, rules: 10, progs: progs, agent: a.pid()}); err != nil {
		return err
	}
	if err := switchFolder(a, policyDir, ruleSet(1000), true); err != nil {
		return err
	}
	obs, err := waitObserver(a, before)
	if err != nil {
		return err
	}
	defer obs.close()
	all := progSet{}
	for k, v := range progs {
		all[k] = v
	}
	for k, v := range obs {
		all[k] = v
	}
	return measure(round, scenario{name: "C", port: nginxPort, rules: 1000, progs: all, agent: a.pid()})
}

// switchFolder rewrites the policy folder and waits until the agent has
// applied a new generation.
func switchFolder(a *agentProc, dir string, rules []rule, monitor bool) error {
	gen, err := a.metric("axon_policy_generation")
	if err != nil {
		return err
	}
	if err := writeRuleFolder(dir, rules, monitor); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if g, err := a.metric("axon_policy_generation"); err == nil && g > gen {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("the agent did not apply the switched folder within 60s")
}

// waitObserver waits for the observer's programs to be loaded and attached.
func waitObserver(a *agentProc, before map[ebpfID]bool) (progSet, error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(a.log.Name()); !strings.Contains(string(b), "http observer attached") {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		ps, err := newPrograms(before, observerPrograms...)
		if err != nil {
			return nil, err
		}
		// The socket hooks (three programs) or the syscall ones (two).
		if _, sys := ps["axs_sys_exit"]; len(ps) == 3 || len(ps) == 2 && sys {
			return ps, nil
		}
		ps.close()
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("the observer's programs were not loaded within 30s")
}

func fmtCost(cost map[string]float64) string {
	var parts []string
	for _, n := range sortedKeys(cost) {
		parts = append(parts, fmt.Sprintf("%s %.0f ns/run", n, cost[n]))
	}
	return strings.Join(parts, ", ")
}
