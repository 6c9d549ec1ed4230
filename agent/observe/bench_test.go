package observe

import (
	"bufio"
	"cmp"
	"context"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/test/netns"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// threadCPU is the calling thread's CPU time: unlike wall time, it does not
// count the time other processes on the shared cores take from us.
func threadCPU(tb testing.TB) time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// rwLoop does n rounds of a 1-byte write and a 1-byte read on a pipe and
// returns the thread CPU time per syscall.
func rwLoop(tb testing.TB, fds [2]int, n int) time.Duration {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	buf := []byte{'x'}
	start := threadCPU(tb)
	for range n {
		if _, err := syscall.Write(fds[1], buf); err != nil {
			tb.Fatal(err)
		}
		if _, err := syscall.Read(fds[0], buf); err != nil {
			tb.Fatal(err)
		}
	}
	return (threadCPU(tb) - start) / time.Duration(2*n)
}

// tcpPair is a connected TCP socket pair on the loopback of the calling
// process's (not monitored) namespace, as blocking descriptors.
func tcpPair(tb testing.TB) [2]int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	defer s.Close()
	// File returns blocking duplicates of the descriptors.
	var fds [2]int
	for i, conn := range []net.Conn{c, s} {
		f, err := conn.(*net.TCPConn).File()
		if err != nil {
			tb.Fatal(err)
		}
		fd, err := syscall.Dup(int(f.Fd()))
		f.Close()
		if err != nil {
			tb.Fatal(err)
		}
		fds[i] = fd
	}
	return fds
}

// median is the median of v (v is left as it was).
func median[T cmp.Ordered](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// BenchmarkUnmonitoredSyscall is the cost a process that is NOT monitored
// pays per read/write syscall with the observer attached vs. detached, in
// the same run, on a pipe, a Unix socket and a loopback TCP connection
// (1-byte write+read loops): rounds alternate between
// detached, the observer attached on each set of hooks the kernel has, and
// empty programs attached to the same tracepoints (the floor of the
// mechanism), and the medians of thread CPU time are compared. Some other
// namespaces are monitored, as on a real node. Reported: ns/syscall
// detached and the ratios to it (goal <= 1.05 for the observer).
func BenchmarkUnmonitoredSyscall(b *testing.B) {
	netns.RequireRoot(b)
	empty, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.RawTracepoint, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		b.Fatal(err)
	}
	defer empty.Close()
	spec, err := bpf.LoadAxonSock()
	if err != nil {
		b.Fatal(err)
	}
	type state struct {
		name   string
		attach func() func()
	}
	states := []state{{"detached", func() func() { return func() {} }}}
	for _, h := range kernelHooks(b) {
		p, err := Load(h)
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		// Two pods' namespaces monitored (dynamic inode numbers), as on a node.
		if err := p.SetNetns(map[uint32]bool{netnsDynFirst + 100: true, netnsDynFirst + 200: true}); err != nil {
			b.Fatal(err)
		}
		states = append(states, state{string(h), func() func() {
			if err := p.Attach(); err != nil {
				b.Fatal(err)
			}
			return p.Detach
		}})
		states = append(states, state{"empty-" + string(h), func() func() {
			var ls []link.Link
			for _, name := range programsOf[h] {
				l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: spec.Programs[name].AttachTo, Program: empty})
				if err != nil {
					b.Fatal(err)
				}
				ls = append(ls, l)
			}
			return func() {
				for _, l := range ls {
					l.Close()
				}
			}
		}})
	}
	var pipe, sock [2]int
	if err := syscall.Pipe(pipe[:]); err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(pipe[0])
	defer syscall.Close(pipe[1])
	sp, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	sock = [2]int{sp[0], sp[1]}
	defer syscall.Close(sock[0])
	defer syscall.Close(sock[1])
	tcp := tcpPair(b)
	defer syscall.Close(tcp[0])
	defer syscall.Close(tcp[1])
	const rounds, per = 15, 20000
	loops := []struct {
		name string
		fds  [2]int
		ns   [][]time.Duration
	}{{"pipe", pipe, nil}, {"socket", sock, nil}, {"tcp", tcp, nil}}
	for i := range loops {
		loops[i].ns = make([][]time.Duration, len(states))
		rwLoop(b, loops[i].fds, per) // warm up
	}
	b.ResetTimer()
	for range b.N {
		for range rounds {
			for i, st := range states {
				undo := st.attach()
				for _, l := range loops {
					l.ns[i] = append(l.ns[i], rwLoop(b, l.fds, per))
				}
				undo()
			}
		}
	}
	for _, l := range loops {
		base := median(l.ns[0])
		b.ReportMetric(float64(base.Nanoseconds()), "ns/syscall-"+l.name+"-detached")
		for i, st := range states[1:] {
			b.ReportMetric(float64(median(l.ns[i+1]))/float64(base), "ratio-"+l.name+"-"+st.name)
		}
	}
}

// throughputRounds is how many rounds of each state BenchmarkServerThroughput
// runs: single rounds on the shared VM differ by 5-10 %.
const throughputRounds = 15

// BenchmarkServerThroughput is the requests/s a real Go net/http server in
// a monitored pod answers to a keep-alive load (8 connections, rounds of
// 1 s) with the observer attached vs. detached, alternating in the same
// run, and attached with the server not monitored (the hooks' cost alone).
// Reported: the median rps of each state and the ratios (goal >= 0.95):
// the median over rounds of a round's attached rps over its detached rps,
// so that a drift of the machine's speed between rounds cancels out.
func BenchmarkServerThroughput(b *testing.B) {
	netns.RequireRoot(b)
	cli, srv := netns.Pair(b, "10.88.9.0/24", "client", "10.88.9.1", "server", "10.88.9.2")
	addr := netip.AddrPortFrom(srv.Addr, 8080).String()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	server := helper(ctx, srv, "server", addr)
	out, err := server.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := server.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cancel(); server.Wait() }()
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "listening" {
		b.Fatal("server did not start")
	}
	p, inum := observing(b, srv)
	load := func() float64 {
		o, err := helper(ctx, cli, "load", "http://"+addr).Output()
		if err != nil {
			b.Fatalf("load: %v", err)
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(string(o)), 64)
		if err != nil {
			b.Fatal(err)
		}
		return v
	}
	var off, on, hookOnly []float64
	var readerCPU time.Duration // this process: the ring-buffer reader and pairer
	var kernelNs uint64         // the programs' run time in the monitored rounds
	var served float64
	monitored := map[uint32]bool{inum: true}
	states := []func(){
		func() { // detached
			p.Detach()
			off = append(off, load())
		},
		func() { // attached, the server's namespace not monitored: the hooks' cost alone
			if err := p.SetNetns(nil); err != nil {
				b.Fatal(err)
			}
			if err := p.Attach(); err != nil {
				b.Fatal(err)
			}
			hookOnly = append(hookOnly, load())
		},
		func() { // attached and monitored
			if err := p.SetNetns(monitored); err != nil {
				b.Fatal(err)
			}
			if err := p.Attach(); err != nil {
				b.Fatal(err)
			}
			before := processCPU(b)
			on = append(on, load())
			time.Sleep(300 * time.Millisecond) // the reader drains (it polls every 200 ms)
			readerCPU += processCPU(b) - before
			served += on[len(on)-1]
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
	var statServed float64
	for range 2 {
		kBefore := p.runTime(b)
		statServed += load()
		kernelNs += p.runTime(b) - kBefore
	}
	stats.Close()
	p.Detach()
	b.Logf("requests/s per round, detached: %v", off)
	b.Logf("attached, not monitored: %v", hookOnly)
	b.Logf("attached, monitored: %v", on)
	b.ReportMetric(pairedRatio(hookOnly, off), "ratio-unmonitored")
	b.ReportMetric(median(off), "rps-detached")
	b.ReportMetric(median(on), "rps-attached")
	b.ReportMetric(pairedRatio(on, off), "ratio")
	b.ReportMetric(float64(readerCPU.Nanoseconds())/served, "reader-ns/request")
	b.ReportMetric(float64(kernelNs)/statServed, "kernel-ns/request")
}

// pairedRatio is the median over rounds of a[i]/b[i]: rounds next to each
// other in time share the VM's speed, which drifts between rounds.
func pairedRatio[T ~int64 | ~float64](a, b []T) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = float64(a[i]) / float64(b[i])
	}
	return median(r)
}

// runTime is the run time the observer's programs have spent so far (BPF
// run-time stats enabled), on every task they ran for.
func (p *Programs) runTime(tb testing.TB) uint64 {
	var total uint64
	for _, name := range programsOf[p.hooks] {
		st, err := p.progs[name].Stats()
		if err != nil {
			tb.Fatal(err)
		}
		total += uint64(st.Runtime)
	}
	return total
}

// processCPU is the CPU time of this process (user + system).
func processCPU(tb testing.TB) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
