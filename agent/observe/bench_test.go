package observe

import (
	"runtime"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
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

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

// BenchmarkUnmonitoredSyscall is the cost a process that is NOT monitored
// pays per read/write syscall with the observer attached vs. detached, in
// the same run: rounds alternate between the two states and the medians are
// compared. Some other namespace is monitored, as on a real node.
// Reported: ns/syscall for each state and their ratio (goal <= 1.05).
func BenchmarkUnmonitoredSyscall(b *testing.B) {
	netns.RequireRoot(b)
	p, err := Load()
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	if err := p.SetNetns(map[uint32]bool{1: true, 2: true}); err != nil {
		b.Fatal(err)
	}
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	const rounds, per = 15, 20000
	var off, on []time.Duration
	rwLoop(b, fds, per) // warm up
	b.ResetTimer()
	for range b.N {
		for range rounds {
			p.Detach()
			off = append(off, rwLoop(b, fds, per))
			if err := p.Attach(); err != nil {
				b.Fatal(err)
			}
			on = append(on, rwLoop(b, fds, per))
		}
	}
	p.Detach()
	mOff, mOn := median(off), median(on)
	b.ReportMetric(float64(mOff.Nanoseconds()), "ns/syscall-detached")
	b.ReportMetric(float64(mOn.Nanoseconds()), "ns/syscall-attached")
	b.ReportMetric(float64(mOn)/float64(mOff), "ratio")
}
