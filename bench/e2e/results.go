package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/cilium/ebpf"
)

type ebpfID = ebpf.ProgramID

// sample is one measurement: a scenario under a workload in one round.
type sample struct {
	wrkResult
	cost map[string]float64 // ns per run by program
}

type results struct {
	cfg          config
	started      time.Time
	elapsed      time.Duration
	machine      [][2]string
	requestBytes map[string]int
	samples      map[string]map[string][]sample // scenario -> workload -> rounds
	checks       []string

	cp     []cpResult
	cpRows float64
	cpPods int
	cpHWM  int64
	mem    []memResult
}

func (r *results) add(scn, wl string, w wrkResult, cost map[string]float64) {
	if r.samples == nil {
		r.samples = map[string]map[string][]sample{}
	}
	if r.samples[scn] == nil {
		r.samples[scn] = map[string][]sample{}
	}
	r.samples[scn][wl] = append(r.samples[scn][wl], sample{w, cost})
}

func output(name string, args ...string) string {
	b, _ := exec.Command(name, args...).CombinedOutput() // wrk -v exits 1
	if len(strings.TrimSpace(string(b))) == 0 {
		return "unknown"
	}
	return strings.TrimSpace(firstLine(string(b)))
}

func (r *results) collectMachine() {
	r.requestBytes = map[string]int{}
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				cpu = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := "unknown"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Join(strings.Fields(firstLine(string(b)))[1:], " ")
	}
	r.machine = [][2]string{
		{"kernel", output("uname", "-r")},
		{"CPU", fmt.Sprintf("%s, %d cores online", cpu, runtime.NumCPU())},
		{"memory", mem},
		{"load average at start", output("cat", "/proc/loadavg")},
		{"Axon", output("git", "describe", "--always", "--dirty")},
		{"nginx", output("nginx", "-v")},
		{"HAProxy", output("haproxy", "-v")},
		{"wrk", output("wrk", "-v")},
	}
}

// checkAxonDenies makes sure the agent enforces: a path no rule allows is
// reset before nginx answers it.
func (r *results) checkAxonDenies() error {
	code, err := curlCode(fmt.Sprintf("http://%s:%d/not-allowed", srvAddr, nginxPort))
	if err == nil {
		return fmt.Errorf("axon check: GET /not-allowed answered %s; the agent does not enforce", code)
	}
	if len(r.checks) < 2 {
		r.checks = append(r.checks, fmt.Sprintf("With the agent running, `GET /not-allowed` (no rule allows it) was reset (%v); the load's requests all got 2xx.", err))
	}
	return nil
}

// checkProxyDenies makes sure HAProxy enforces its ACLs too.
func (r *results) checkProxyDenies() error {
	for _, port := range []int{proxyPort, proxy10Prt} {
		code, err := curlCode(fmt.Sprintf("http://%s:%d/not-allowed", srvAddr, port))
		if err != nil || code != "403" {
			return fmt.Errorf("haproxy check on %d: GET /not-allowed: %s %v, want 403", port, code, err)
		}
	}
	if len(r.checks) == 0 || !strings.HasPrefix(r.checks[0], "HAProxy") {
		r.checks = append([]string{"HAProxy answers `GET /not-allowed` with 403 on both proxies."}, r.checks...)
	}
	return nil
}

func curlCode(url string) (string, error) {
	out, err := inNS(cliNS, "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5", url).CombinedOutput()
	if err != nil {
		return strings.TrimSpace(string(out)), fmt.Errorf("curl: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for s := range m {
		k = append(k, s)
	}
	sort.Strings(k)
	return k
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func minMax(v []float64) (float64, float64) {
	lo, hi := v[0], v[0]
	for _, x := range v {
		lo, hi = min(lo, x), max(hi, x)
	}
	return lo, hi
}

// ratios are the per-round requests/s of scn divided by A's in the same round.
func (r *results) ratios(scn, wl string) []float64 {
	var out []float64
	a, s := r.samples["A"][wl], r.samples[scn][wl]
	for i := range min(len(a), len(s)) {
		if a[i].rps > 0 {
			out = append(out, s[i].rps/a[i].rps)
		}
	}
	return out
}

// p99Deltas are the per-round p99 of scn minus A's, in microseconds.
func (r *results) p99Deltas(scn, wl string) []float64 {
	var out []float64
	a, s := r.samples["A"][wl], r.samples[scn][wl]
	for i := range min(len(a), len(s)) {
		out = append(out, float64(s[i].p99-a[i].p99)/1e3)
	}
	return out
}

func (r *results) markdown() string {
	var b strings.Builder
	mode := "full"
	if r.cfg.quick {
		mode = "quick (BENCH_QUICK=1: a smoke run, not a measurement)"
	}
	fmt.Fprintf(&b, "# Benchmark results\n\nWritten by `make bench-e2e` (scripts/bench-e2e.sh, bench/e2e) on %s UTC in %v; mode: %s.\n"+
		"Ratios are what to read: absolute figures depend on the machine and on what else runs on it.\n\n",
		r.started.UTC().Format("2006-01-02 15:04"), r.elapsed.Round(time.Second), mode)
	b.WriteString("## Machine\n\n| | |\n|---|---|\n")
	for _, m := range r.machine {
		fmt.Fprintf(&b, "| %s | %s |\n", m[0], strings.ReplaceAll(m[1], "|", "/"))
	}
	fmt.Fprintf(&b, `
## Method

Two network namespaces on a bridge: the client (wrk, 1 thread, %d connections) and the server
(nginx, 1 worker, a %d-byte static page). The agent attaches to the server's bridge port, as to a
pod's veth. Each round runs every scenario in turn, %d s per workload after a 1 s warm-up; %d rounds.
Figures are medians over rounds; ratios are taken within a round (scenario / A), then the median
and the range [min-max] over rounds.

| scenario | what |
|---|---|
`, r.cfg.conns, len(indexBody), int(r.cfg.duration.Seconds()), r.cfg.rounds)
	for _, s := range []string{"A", "B", "B10", "C", "D", "D10"} {
		fmt.Fprintf(&b, "| %s | %s |\n", s, scenarioText[s])
	}
	fmt.Fprintf(&b, `
The rules: rule i allows GET from the client pod to /api/v1/svc<i>/ (even i, a prefix) or to
/api/v1/svc<i>/status (odd i, exact), in policies of 10 rules with default Deny; HAProxy has one
`+"`http-request allow if { src } { method } { path_beg|path }`"+` line per rule, then `+"`http-request deny`"+`.
The load requests /api/v1/svc998/items/42 (svc8 with 10 rules): the last prefix rule, so HAProxy's
ordered ACLs walk nearly all of them; Axon's lookup does not depend on the position.
Request sizes (request line and headers): `)
	for i, w := range workloads {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d B", w.name, r.requestBytes[w.name])
	}
	b.WriteString(".\n\n")
	for _, c := range r.checks {
		b.WriteString("- " + c + "\n")
	}

	b.WriteString("\n## Requests/s as a ratio to A\n\n| workload | B (1,000 rules) | B10 | C (B + observer) | D (HAProxy, 1,000) | D10 |\n|---|---|---|---|---|---|\n")
	for _, w := range workloads {
		fmt.Fprintf(&b, "| %s |", w.name)
		for _, s := range []string{"B", "B10", "C", "D", "D10"} {
			v := r.ratios(s, w.name)
			if len(v) == 0 {
				b.WriteString(" - |")
				continue
			}
			lo, hi := minMax(v)
			fmt.Fprintf(&b, " %.2fx [%.2f-%.2f] |", medianF(v), lo, hi)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## p99 latency: A's, and each scenario's difference to A (µs, median over rounds)\n\n| workload | A p99 | B | B10 | C | D | D10 |\n|---|---|---|---|---|---|---|\n")
	for _, w := range workloads {
		var a []float64
		for _, s := range r.samples["A"][w.name] {
			a = append(a, float64(s.p99)/1e3)
		}
		fmt.Fprintf(&b, "| %s | %.0f µs |", w.name, medianF(a))
		for _, s := range []string{"B", "B10", "C", "D", "D10"} {
			fmt.Fprintf(&b, " %+.0f |", medianF(r.p99Deltas(s, w.name)))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Kernel cost per run (bpf_stats run_time_ns / run_cnt, median over rounds)\n\n" +
		"`axon_egress` runs on each packet to the server, `axon_reply` on each packet from it. The observer (C only):\n" +
		"`axs_sock_recv`/`axs_sock_send` run on every socket read/write of the machine (Linux 6.3+), or\n" +
		"`axs_sys_exit` on every system call (older kernels); `axs_sock_state` on every TCP state change.\n\n" +
		"| scenario | workload | axon_egress | axon_reply | axs_sock_recv | axs_sock_send | axs_sys_exit | axs_sock_state |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range []string{"B", "B10", "C"} {
		for _, w := range workloads {
			fmt.Fprintf(&b, "| %s | %s |", s, w.name)
			for _, p := range append([]string{"axon_egress", "axon_reply"}, observerPrograms...) {
				var v []float64
				for _, smp := range r.samples[s][w.name] {
					if c, ok := smp.cost[p]; ok {
						v = append(v, c)
					}
				}
				if len(v) == 0 {
					b.WriteString(" |")
					continue
				}
				fmt.Fprintf(&b, " %.0f ns |", medianF(v))
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n## The agent's own CPU per request (µs, median over rounds)\n\n" +
		"User and system time of the agent process (every thread: the observer's ring-buffer reader and\n" +
		"pairer, the periodic checks, Go's garbage collector) over a measurement, divided by the requests\n" +
		"served; it competes with nginx and wrk for the same two cores. Kernel program time is above.\n\n" +
		"| workload | B | B10 | C |\n|---|---|---|---|\n")
	for _, w := range workloads {
		fmt.Fprintf(&b, "| %s |", w.name)
		for _, s := range []string{"B", "B10", "C"} {
			var v []float64
			for _, smp := range r.samples[s][w.name] {
				v = append(v, float64(smp.agentCPU.Nanoseconds())/1000)
			}
			if len(v) == 0 {
				b.WriteString(" |")
				continue
			}
			fmt.Fprintf(&b, " %.2f |", medianF(v))
		}
		b.WriteString("\n")
	}
	r.controlMarkdown(&b)
	r.goalsMarkdown(&b)
	b.WriteString("\n## Raw rounds\n\nrequests/s, p50, p99, errors (socket errors and non-2xx) per round.\n\n| scenario | workload | rounds |\n|---|---|---|\n")
	for _, s := range []string{"A", "B", "B10", "C", "D", "D10"} {
		for _, w := range workloads {
			var parts []string
			for _, smp := range r.samples[s][w.name] {
				parts = append(parts, fmt.Sprintf("%.0f/%v/%v/%d", smp.rps, smp.p50.Round(time.Microsecond), smp.p99.Round(time.Microsecond), smp.errors))
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", s, w.name, strings.Join(parts, " · "))
		}
	}
	return b.String()
}

func (r *results) controlMarkdown(b *strings.Builder) {
	fmt.Fprintf(b, "\n## Control plane\n\nA folder of 1,000 policies x 10 rules shaped like policy/compiler's benchmark, %d pod identities "+
		"(%.0f path rows). Time from the change to the flip of the active generation in the pinned `config` map, which every "+
		"packet reads; median [min-max] of %d. The folder is laid out as the kubelet lays out a ConfigMap volume, so each "+
		"change is one atomic rename of `..data`, and the delay runs from that rename. A changed policy gets a new path in its "+
		"first rule, whose sources become the policy's own pods, so that each change adds and removes path rows. "+
		"In-process figures of the same reload: `go test -bench BenchmarkReload ./agent/` (part of `make bench`).\n\n"+
		"| policies changed | delay to the new generation | writing the new version folder (before the rename) |\n|---|---|---|\n", r.cpPods, r.cpRows, r.cfg.cpRounds)
	for _, c := range r.cp {
		if c.err != "" && len(c.delays) == 0 {
			fmt.Fprintf(b, "| %d | failed: %s | |\n", c.changed, c.err)
			continue
		}
		var lo, hi time.Duration
		for i, d := range c.delays {
			if i == 0 || d < lo {
				lo = d
			}
			hi = max(hi, d)
		}
		fmt.Fprintf(b, "| %d | %v [%v-%v] | %v |\n", c.changed, median(c.delays).Round(time.Millisecond),
			lo.Round(time.Millisecond), hi.Round(time.Millisecond), median(c.writes).Round(time.Millisecond))
	}
	fmt.Fprintf(b, "\nAgent VmHWM after these changes: %d MiB.\n", r.cpHWM>>20)
	r.memoryMarkdown(b)
}

func (r *results) goalsMarkdown(b *strings.Builder) {
	b.WriteString("\n## Goals (issue 15)\n\n| goal | measured | met |\n|---|---|---|\n")
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	for _, w := range workloads {
		v := r.ratios("B", w.name)
		m := medianF(v)
		fmt.Fprintf(b, "| B >= 0.97x A, %s | %.2fx | %s |\n", w.name, m, yes(len(v) > 0 && m >= 0.97))
		d := medianF(r.p99Deltas("B", w.name))
		fmt.Fprintf(b, "| B p99 within 50 µs of A, %s | %+.0f µs | %s |\n", w.name, d, yes(len(v) > 0 && d <= 50))
		c := medianF(r.ratios("C", w.name))
		fmt.Fprintf(b, "| C >= 0.95x A, %s | %.2fx | %s |\n", w.name, c, yes(c >= 0.95))
	}
	for _, c := range r.cp {
		if c.changed == 1 {
			m := median(c.delays)
			fmt.Fprintf(b, "| one changed policy enforced < 50 ms after the change | %v | %s |\n", m.Round(time.Millisecond), yes(len(c.delays) > 0 && m < 50*time.Millisecond))
		}
	}
}
