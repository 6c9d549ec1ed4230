package e2e

import (
	"bufio"
	"net"
	"net/http"
	"os/exec"
	"testing"
	"time"
)

// closingServer accepts connections, reads one request line and then either
// resets the connection (SO_LINGER 0, as a denial looks to a client) or
// closes it cleanly without answering.
func closingServer(t *testing.T, reset bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = bufio.NewReader(c).ReadString('\n')
			if reset {
				_ = c.(*net.TCPConn).SetLinger(0)
			}
			c.Close()
		}
	}()
	return "http://" + l.Addr().String() + "/x"
}

// A denial is a reset; a server that closes without answering must not pass
// for one, or a test could call a broken server "denied".
func TestOutcomeTellsResetFromClose(t *testing.T) {
	for _, c := range []struct {
		name  string
		reset bool
		want  bool // classified as "reset"
	}{
		{"reset", true, true},
		{"close", false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			url := closingServer(t, c.reset)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
			got := outcome(client.Get(url))
			if (got == "reset") != c.want {
				t.Errorf("Go client: outcome %q, want reset=%v", got, c.want)
			}
			if _, err := exec.LookPath("curl"); err != nil {
				t.Skip("needs curl")
			}
			got = hostCurl(t, url)
			if (got == "reset") != c.want {
				t.Errorf("curl: outcome %q, want reset=%v", got, c.want)
			}
		})
	}
}
