package netns

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// Two namespaces on a bridge talk HTTP, with curl and with a Go client, and
// the server records exactly the requests that were sent.
func TestBridgeHTTP(t *testing.T) {
	n := New(t, "10.78.0.0/24")
	server := n.AddHost("server", "10.78.0.10")
	client := n.AddHost("client", "10.78.0.20")
	srv := server.Serve(t, 8080)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := client.Curl(ctx, "http://10.78.0.10:8080/from-curl?x=1")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.Status != 200 {
		t.Fatalf("curl: exit %d status %d: %s", res.ExitCode, res.Status, res.Output)
	}

	resp, err := client.HTTPClient(5*time.Second, false).Get("http://10.78.0.10:8080/from-go")
	if err != nil {
		t.Fatalf("go client: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok GET /from-go\n" {
		t.Fatalf("go client got %q", body)
	}

	got := srv.Requests()
	want := []string{"GET /from-curl?x=1 HTTP/1.1", "GET /from-go HTTP/1.1"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("server saw %q, want %q", got, want)
	}
}

// A pair of namespaces without a bridge reaches each other, and nothing
// outside the subnet is reachable from inside.
func TestPairIsolated(t *testing.T) {
	a, b := Pair(t, "10.78.1.0/30", "a", "10.78.1.1", "b", "10.78.1.2")
	srv := b.Serve(t, 80)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := a.Curl(ctx, "http://10.78.1.2/pair")
	if err != nil || res.Status != 200 {
		t.Fatalf("curl across the pair: %v %+v", err, res)
	}
	if !srv.Saw("GET /pair ") {
		t.Fatalf("server did not record the request: %q", srv.Requests())
	}
	if c, err := a.DialContext(ctx, "tcp", "10.78.0.1:80"); err == nil {
		c.Close()
		t.Fatal("a host of a pair reached an address outside its subnet")
	}
}

// Cleanup removes every namespace and interface the test made.
func TestCleanupRemovesEverything(t *testing.T) {
	var ns, port, bridge string
	t.Run("make", func(t *testing.T) {
		n := New(t, "10.78.2.0/24")
		h := n.AddHost("x", "10.78.2.2")
		ns, port, bridge = h.NS, h.Port, n.Bridge
	})
	for _, args := range [][]string{{"netns", "pids", ns}, {"link", "show", port}, {"link", "show", bridge}} {
		if err := ip(args...); err == nil {
			t.Errorf("ip %v still succeeds after cleanup", args)
		}
	}
}

// An IPv6 pair is usable at once: the server can bind its address and sees
// the client's own address as the peer, not the client's link-local one
// (which it would while the client's address is still tentative).
func TestPairIPv6Ready(t *testing.T) {
	a, b := Pair(t, "fd98:1::/64", "a", "fd98:1::1", "b", "fd98:1::2")
	l, err := b.Listen("tcp", "[fd98:1::2]:80")
	if err != nil {
		t.Fatalf("binding the server's address right after Pair: %v", err)
	}
	defer l.Close()
	peer := make(chan string, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			peer <- err.Error()
			return
		}
		peer <- c.RemoteAddr().(*net.TCPAddr).IP.String()
		c.Close()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := a.DialContext(ctx, "tcp", "[fd98:1::2]:80")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := <-peer; got != "fd98:1::1" {
		t.Fatalf("server saw the client at %s, want fd98:1::1", got)
	}
}
