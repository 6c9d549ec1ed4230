package observe

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// captureRequest is what the exchange loop's client sends: a small
// browser-like request in one syscall.
const captureRequest = "GET /api/orders/17 HTTP/1.1\r\nHost: orders:8080\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"

// captureResponse is the exchange loop's response, head and a body of
// size bytes, in one syscall.
func captureResponse(size int) string {
	return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + strconv.Itoa(size) +
		"\r\nDate: Tue, 01 Dec 2026 19:00:00 GMT\r\n\r\n" + strings.Repeat("x", size)
}

// exchangeLoop runs n request/response exchanges over a loopback TCP
// connection from one thread (client write, server read, server write,
// client read: four socket syscalls that each move a whole HTTP message)
// and prints the thread CPU time per exchange in ns. arg is "n,body": the
// count and the response body's size.
func exchangeLoop(arg string) error {
	count, size, _ := strings.Cut(arg, ",")
	n, err := strconv.Atoi(count)
	if err != nil {
		return err
	}
	body, err := strconv.Atoi(size)
	if err != nil {
		return err
	}
	runtime.LockOSThread()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		return err
	}
	defer s.Close()
	fd := func(conn net.Conn) int {
		f, err := conn.(*net.TCPConn).File() // a blocking duplicate
		if err != nil {
			panic(err)
		}
		return int(f.Fd())
	}
	cfd, sfd := fd(c), fd(s)
	req, resp := []byte(captureRequest), []byte(captureResponse(body))
	buf := make([]byte, 4096)
	var ts unix.Timespec
	round := func() error {
		if _, err := syscall.Write(cfd, req); err != nil {
			return err
		}
		if _, err := syscall.Read(sfd, buf); err != nil {
			return err
		}
		if _, err := syscall.Write(sfd, resp); err != nil {
			return err
		}
		_, err := syscall.Read(cfd, buf)
		return err
	}
	for range 1000 { // warm up
		if err := round(); err != nil {
			return err
		}
	}
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	start := ts.Nano()
	for range n {
		if err := round(); err != nil {
			return err
		}
	}
	unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	fmt.Println((ts.Nano() - start) / int64(n))
	return nil
}

// observing loads the observer (not attached) with h's namespace monitored
// and drains its ring buffer as the agent does (pairing and metrics
// included) until the benchmark ends; it returns the programs and the
// namespace's inode.
func observing(b *testing.B, h *netns.Host) (*Programs, uint32) {
	p, err := Load(HooksAuto)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Close() })
	where, err := NetnsOfIPs([]netip.Addr{h.Addr})
	if err != nil || len(where) != 1 {
		b.Fatalf("namespace of %s: %v %v", h.Addr, where, err)
	}
	if err := p.SetNetns(map[uint32]bool{where[h.Addr]: true}); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	coll := NewCollector(staticResolver{where[h.Addr]: {Namespace: "bench", Name: "server"}}, p.Stats)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, p, NewPairer(coll)) }()
	b.Cleanup(func() { cancel(); <-done })
	return p, where[h.Addr]
}

// captureBodies are the response bodies BenchmarkCapture measures: a tiny
// one, and one that makes the response about 2 KB, the most a data event
// carries (AXS_CAPTURE): the capture's cost grows with the bytes it copies.
var captureBodies = []int{3, 1900}

// BenchmarkCapture is what the observer costs a monitored process per HTTP
// message it moves: a process in a monitored pod exchanges requests and
// responses with itself over TCP, one whole message per syscall, with the
// observer detached and attached, rounds alternating, for each of
// captureBodies. Reported: the process's CPU time per exchange (4
// messages) detached and attached (medians, and the median of the rounds'
// paired ratios); then, in rounds of their own with BPF run-time stats
// (their clock reads would burden the timed rounds), the programs' own run
// time per message (an average over the exchange's 4 messages) and what
// each byte more of the 2 KB response costs them. The ring buffer is
// drained by the agent's reader and pairer meanwhile.
func BenchmarkCapture(b *testing.B) {
	netns.RequireRoot(b)
	_, srv := netns.Pair(b, "10.88.10.0/24", "client", "10.88.10.1", "server", "10.88.10.2")
	p, _ := observing(b, srv)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const per = 20000
	exchange := func(body int) time.Duration {
		o, err := helper(ctx, srv, "exchange", fmt.Sprintf("%d,%d", per, body)).Output()
		if err != nil {
			b.Fatalf("exchange: %v", err)
		}
		v, err := strconv.Atoi(strings.TrimSpace(string(o)))
		if err != nil {
			b.Fatal(err)
		}
		return time.Duration(v)
	}
	attach := func() {
		if err := p.Attach(); err != nil {
			b.Fatal(err)
		}
	}
	off := make([][]time.Duration, len(captureBodies))
	on := make([][]time.Duration, len(captureBodies))
	b.ResetTimer()
	for range b.N {
		for range 7 {
			for i, body := range captureBodies {
				p.Detach()
				off[i] = append(off[i], exchange(body))
				attach()
				on[i] = append(on[i], exchange(body))
			}
		}
	}
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatalf("enabling BPF run-time stats: %v", err)
	}
	const statRounds = 3
	perExchange := make([]float64, len(captureBodies))
	for range statRounds {
		for i, body := range captureBodies {
			before := p.runTime(b)
			exchange(body)
			// Warm-up exchanges ran too.
			perExchange[i] += float64(p.runTime(b)-before) / (statRounds * (per + 1000))
		}
	}
	stats.Close()
	p.Detach()
	for i, body := range captureBodies {
		unit := ""
		if i > 0 {
			unit = "-" + strconv.Itoa(len(captureResponse(body))) + "B-response"
		}
		b.ReportMetric(float64(median(off[i]).Nanoseconds()), "ns/exchange-detached"+unit)
		b.ReportMetric(float64(median(on[i]).Nanoseconds()), "ns/exchange-attached"+unit)
		b.ReportMetric(pairedRatio(on[i], off[i]), "ratio"+unit)
		b.ReportMetric(perExchange[i]/4, "kernel-ns/message"+unit)
	}
	extra := len(captureResponse(captureBodies[1])) - len(captureResponse(captureBodies[0]))
	b.ReportMetric((perExchange[1]-perExchange[0])/float64(extra), "kernel-ns/captured-byte")
}
