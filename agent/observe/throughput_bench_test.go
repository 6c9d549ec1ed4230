package observe

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// throughputRounds is how many rounds of each state BenchmarkServerThroughput
// runs: single rounds on the shared VM differ by 5-10 %.
const throughputRounds = 15

// loadGenerator runs 1 s of keep-alive load (8 connections) against url
// from host cli and returns the requests/s it measured and the CPU time its
// process used.
type loadGenerator func(tb testing.TB, ctx context.Context, cli *netns.Host, url string) (float64, time.Duration)

// goLoad is the Go net/http client of the tests (loadClient): 8 goroutines
// on 8 keep-alive connections.
func goLoad(tb testing.TB, ctx context.Context, cli *netns.Host, url string) (float64, time.Duration) {
	cmd := helper(ctx, cli, "load", url)
	o, err := cmd.Output()
	if err != nil {
		tb.Fatalf("load: %v", err)
	}
	rps, err := strconv.ParseFloat(strings.TrimSpace(string(o)), 64)
	if err != nil {
		tb.Fatal(err)
	}
	return rps, childCPU(cmd)
}

// wrkLoad is Debian's wrk: one thread (an event loop) on 8 keep-alive
// connections, a lighter client than goLoad, so more of the two cores is
// left to the server.
func wrkLoad(tb testing.TB, ctx context.Context, cli *netns.Host, url string) (float64, time.Duration) {
	cmd := cli.Command(ctx, "wrk", "-t1", "-c8", "-d1s", url+"/ok")
	o, err := cmd.Output()
	if err != nil {
		tb.Fatalf("wrk: %v", err)
	}
	for _, l := range strings.Split(string(o), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "Requests/sec:" {
			rps, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				tb.Fatalf("wrk: %q: %v", l, err)
			}
			return rps, childCPU(cmd)
		}
	}
	tb.Fatalf("wrk printed no Requests/sec:\n%s", o)
	return 0, 0
}

// childCPU is the CPU time (user + system) an ended command used.
func childCPU(cmd *exec.Cmd) time.Duration {
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pidCPU is the CPU time (user + system, all threads) process pid has used
// so far, from /proc in clock ticks (USER_HZ, 100 on Linux).
func pidCPU(tb testing.TB, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// The fields after the command name: state is the first, utime the
	// 12th and stime the 13th.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			tb.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// throughputState is what the rounds of one state measured.
type throughputState struct {
	rps                []float64
	served             float64       // requests, over all rounds
	serverCPU, loadCPU time.Duration // over all rounds
}

func (s *throughputState) add(rps float64, server, load time.Duration) {
	s.rps = append(s.rps, rps)
	s.served += rps
	s.serverCPU += server
	s.loadCPU += load
}

// perRequest is d per request served in the state's rounds, in µs.
func (s *throughputState) perRequest(d time.Duration) float64 {
	return float64(d.Nanoseconds()) / 1000 / s.served
}

// BenchmarkServerThroughput is the requests/s a real Go net/http server in
// a monitored pod answers to a keep-alive load (8 connections, rounds of
// 1 s) with the observer attached vs. detached, alternating in the same
// run, and attached with the server not monitored (the hooks' cost alone),
// for two load generators: the Go client of the tests and wrk. Reported
// per load generator: the median rps of each state and the ratios (goal >=
// 0.95): the median over rounds of a round's attached rps over its
// detached rps, so that a drift of the machine's speed between rounds
// cancels out, with the quartiles of those per-round ratios (the spread one
// run's median comes from); and where the CPU goes per request: the server process, the
// load generator, the agent-side reader and pairer, and the observer's
// programs.
func BenchmarkServerThroughput(b *testing.B) {
	netns.RequireRoot(b)
	cli, srv := netns.Pair(b, "10.88.9.0/24", "client", "10.88.9.1", "server", "10.88.9.2")
	addr := netip.AddrPortFrom(srv.Addr, 8080).String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := startGoServer(b, ctx, srv, addr)
	p, inum := observing(b, srv)
	for _, lg := range []struct {
		name string
		load loadGenerator
	}{{"go", goLoad}, {"wrk", wrkLoad}} {
		b.Run("client="+lg.name, func(b *testing.B) {
			if lg.name == "wrk" {
				if _, err := exec.LookPath("wrk"); err != nil {
					b.Skip("wrk is not installed (apt-get install wrk)")
				}
			}
			load := func(s *throughputState) {
				before := pidCPU(b, server.Process.Pid)
				rps, loadCPU := lg.load(b, ctx, cli, "http://"+addr)
				s.add(rps, pidCPU(b, server.Process.Pid)-before, loadCPU)
			}
			runThroughput(b, p, inum, load)
		})
	}
}

// runThroughput runs BenchmarkServerThroughput's rounds with load and
// reports their figures.
func runThroughput(b *testing.B, p *Programs, inum uint32, load func(*throughputState)) {
	var off, on, hookOnly throughputState
	var readerCPU time.Duration // this process: the ring-buffer reader and pairer
	monitored := map[uint32]bool{inum: true}
	states := []func(){
		func() { // detached
			p.Detach()
			load(&off)
		},
		func() { // attached, the server's namespace not monitored: the hooks' cost alone
			if err := p.SetNetns(nil); err != nil {
				b.Fatal(err)
			}
			if err := p.Attach(); err != nil {
				b.Fatal(err)
			}
			load(&hookOnly)
		},
		func() { // attached and monitored
			if err := p.SetNetns(monitored); err != nil {
				b.Fatal(err)
			}
			if err := p.Attach(); err != nil {
				b.Fatal(err)
			}
			before := processCPU(b)
			load(&on)
			time.Sleep(300 * time.Millisecond) // the reader drains (it polls every 200 ms)
			readerCPU += processCPU(b) - before
		},
	}
	b.ResetTimer()
	for range b.N {
		for r := range throughputRounds {
			// Every other round runs the states in reverse order, so a
			// drift of the machine's speed during a round favours none.
			for i := range states {
				if r%2 == 1 {
					i = len(states) - 1 - i
				}
				states[i]()
			}
		}
	}
	// The programs' run time, from BPF run-time stats in rounds of their
	// own: the stats take two clock reads per program run, a cost the
	// rounds above must not carry (a node does not enable them).
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatalf("enabling BPF run-time stats: %v", err)
	}
	var statRounds throughputState
	kBefore := p.runTime(b)
	for range 2 {
		load(&statRounds)
	}
	kernelNs := p.runTime(b) - kBefore
	stats.Close()
	p.Detach()
	b.Logf("requests/s per round, detached: %v", off.rps)
	b.Logf("attached, not monitored: %v", hookOnly.rps)
	b.Logf("attached, monitored: %v", on.rps)
	b.ReportMetric(pairedRatio(hookOnly.rps, off.rps), "ratio-unmonitored")
	b.ReportMetric(median(off.rps), "rps-detached")
	b.ReportMetric(median(on.rps), "rps-attached")
	// The quartiles of the rounds' paired ratios show how far one run's
	// median can be trusted on a machine whose speed drifts.
	ratios := pairedRatios(on.rps, off.rps)
	b.Logf("attached, monitored / detached, per round (sorted): %.3f", ratios)
	b.ReportMetric(ratios[len(ratios)/2], "ratio")
	b.ReportMetric(ratios[len(ratios)/4], "ratio-q1")
	b.ReportMetric(ratios[len(ratios)*3/4], "ratio-q3")
	b.ReportMetric(on.perRequest(readerCPU)*1000, "reader-ns/request")
	b.ReportMetric(float64(kernelNs)/statRounds.served, "kernel-ns/request")
	for _, s := range []struct {
		name string
		st   *throughputState
	}{{"detached", &off}, {"attached", &on}} {
		b.ReportMetric(s.st.perRequest(s.st.serverCPU), "server-µs/request-"+s.name)
		b.ReportMetric(s.st.perRequest(s.st.loadCPU), "load-µs/request-"+s.name)
	}
}
