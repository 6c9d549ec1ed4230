package evasion

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/axon-dev/axon/test/netns"
)

// startGoTFO runs Go net/http on port with TCP Fast Open enabled on its
// listener (queue 16), logging as the Go server does.
func startGoTFO(t *testing.T, h *netns.Host, port int) *goServer {
	t.Helper()
	var l net.Listener
	err := h.Do(func() (err error) {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_FASTOPEN, 16)
			}); err != nil {
				return err
			}
			return serr
		}}
		l, err = lc.Listen(t.Context(), "tcp4", fmt.Sprintf(":%d", port))
		return err
	})
	if err != nil {
		t.Fatalf("listening with TCP_FASTOPEN in %s: %v", h.NS, err)
	}
	s := &goServer{port: port}
	srv := &http.Server{
		Handler:           http.HandlerFunc(s.answerUnread),
		ReadHeaderTimeout: 10 * time.Second,
	}
	serveUntilCleanup(t, srv, l)
	return s
}

// tfoExchange sends req from h with sendto(MSG_FASTOPEN) (the kernel puts
// it in the SYN when it holds a cookie for the server) and returns what
// came back within wait.
func tfoExchange(t *testing.T, h *netns.Host, dst net.IP, port int, req string, wait time.Duration) string {
	t.Helper()
	var fd int
	err := h.Do(func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
		if err != nil {
			return err
		}
		sa := &unix.SockaddrInet4{Port: port}
		copy(sa.Addr[:], dst.To4())
		return unix.Sendto(fd, []byte(req), unix.MSG_FASTOPEN, sa)
	})
	if fd > 0 {
		defer unix.Close(fd)
	}
	if err != nil {
		return "sendto: " + err.Error()
	}
	tv := unix.NsecToTimeval(int64(wait))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	var got []byte
	buf := make([]byte, 4096)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		n, err := unix.Read(fd, buf)
		if n > 0 {
			got = append(got, buf[:n]...)
			if strings.Contains(string(got), "\r\n\r\n") {
				break
			}
			continue
		}
		if err != nil {
			return string(got) + " (" + err.Error() + ")"
		}
		break
	}
	return string(got)
}

// TestRedteamFastOpenCookie: a server with TCP Fast Open (sysctl
// tcp_fastopen=3 in its namespace, TCP_FASTOPEN on the Go listener), a
// Linux client holding a real cookie from an earlier connection, and a
// denied request in the SYN's data (the server's kernel delivers it before
// the handshake completes). Control before Axon: the SYN data is taken
// (TcpExt TCPFastOpenPassive grows) and served. With Axon: the denied
// request must never run, and an allowed request sent the same way must
// still be served (the client falls back to sending it after the
// handshake).
func TestRedteamFastOpenCookie(t *testing.T) {
	t.Parallel()
	tp := newTopo99(t, 5)
	tp.policy("Enforce", "")
	tp.run(tp.srv, "sysctl", "-qw", "net.ipv4.tcp_fastopen=3")
	tp.run(tp.cli, "sysctl", "-qw", "net.ipv4.tcp_fastopen=1")
	tp.run(tp.cli, "sysctl", "-qw", "net.ipv4.tcp_fastopen_blackhole_timeout_sec=0")
	s := startGoTFO(t, tp.srv, goPort)
	dst := net.IP(tp.srv.Addr.AsSlice())
	req := func(p string) string { return "GET " + p + " HTTP/1.1\r\nHost: srv\r\nConnection: close\r\n\r\n" }
	// Control: the first connection fetches the cookie, the second sends
	// its request in the SYN.
	for i := 0; i < 2; i++ {
		ok := token("tfoctl")
		got := tfoExchange(t, tp.cli, dst, goPort, req("/api/v1/"+ok), 2*time.Second)
		expectArrived(t, s, ok, fmt.Sprintf("TFO control %d (%s)", i, firstLine(got, nil)))
	}
	before := tp.tcpExt("TCPFastOpenPassive")
	if before == 0 {
		t.Fatalf("no SYN data was taken by the server without Axon (TCPFastOpenPassive 0): the test cannot show anything")
	}
	a := tp.startAgent()
	waitGeneration(t, a, 1, 5*time.Second)
	for i := 0; i < 3; i++ {
		bad := token("tfobad")
		got := tfoExchange(t, tp.cli, dst, goPort, req("/api/admin/"+bad), 3*time.Second)
		expectNeverRun(t, s, bad, fmt.Sprintf("a denied request in TFO SYN data, try %d (%s)", i, firstLine(got, nil)))
	}
	after := tp.tcpExt("TCPFastOpenPassive")
	t.Logf("TCPFastOpenPassive %d before Axon, %d after the denied tries", before, after)
	ok := token("tfook")
	got := tfoExchange(t, tp.cli, dst, goPort, req("/api/v1/"+ok), 4*time.Second)
	t.Logf("allowed request by TFO with Axon: %s", firstLine(got, nil))
	expectArrived(t, s, ok, "an allowed request sent with MSG_FASTOPEN through Axon")
}
