package observe

import (
	"cmp"
	"net"
	"runtime"
	"slices"
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
				ls = append(ls, attachEmpty(b, spec.Programs[name], empty))
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

// attachEmpty attaches a program that does nothing where prog would run:
// the tracepoint of a tp_btf program (empty, a raw tracepoint program), or
// the kernel function of an fexit one (an empty fexit program of its own,
// closed with the link).
func attachEmpty(tb testing.TB, prog *ebpf.ProgramSpec, empty *ebpf.Program) link.Link {
	if prog.AttachType != ebpf.AttachTraceFExit {
		l, err := link.AttachRawTracepoint(link.RawTracepointOptions{Name: prog.AttachTo, Program: empty})
		if err != nil {
			tb.Fatal(err)
		}
		return l
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Tracing, AttachType: ebpf.AttachTraceFExit,
		AttachTo: prog.AttachTo, License: "GPL", Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}})
	if err != nil {
		tb.Fatal(err)
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: p})
	p.Close() // the link holds it
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// pairedRatio is the median over rounds of a[i]/b[i]: rounds next to each
// other in time share the VM's speed, which drifts between rounds.
func pairedRatio[T ~int64 | ~float64](a, b []T) float64 {
	return median(pairedRatios(a, b))
}

// pairedRatios are a[i]/b[i] per round, sorted.
func pairedRatios[T ~int64 | ~float64](a, b []T) []float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = float64(a[i]) / float64(b[i])
	}
	slices.Sort(r)
	return r
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
