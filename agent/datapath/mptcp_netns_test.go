package datapath

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// mptcpServer is a Go HTTP server (Go listeners accept MPTCP by default)
// that records, per request, whether its connection is multipath.
type mptcpServer struct {
	mu       sync.Mutex
	paths    []string
	mptcpFor map[string]bool // path -> the connection was MPTCP
}

type connKey struct{}

func (s *mptcpServer) serve(t *testing.T, h *netns.Host) string {
	addr := net.JoinHostPort(h.Addr.String(), "8080")
	l, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		ConnContext: func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mp := false
			if tc, ok := r.Context().Value(connKey{}).(*net.TCPConn); ok {
				mp, _ = tc.MultipathTCP()
			}
			s.mu.Lock()
			s.paths = append(s.paths, r.URL.Path)
			s.mptcpFor[r.URL.Path] = mp
			s.mu.Unlock()
			fmt.Fprintln(w, "ok")
		}),
	}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("server: %v", err)
		}
	}()
	t.Cleanup(func() { srv.Close() })
	return addr
}

// mptcpGet sends GET path from the client over a connection that asks for
// MPTCP.
func mptcpGet(h *netns.Host, addr, path string) error {
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, network, a string) (net.Conn, error) {
		var c net.Conn
		err := h.Do(func() (err error) {
			var d net.Dialer
			d.SetMultipathTCP(true)
			c, err = d.DialContext(ctx, network, a)
			return err
		})
		return c, err
	}}
	cl := &http.Client{Timeout: 5 * time.Second, Transport: tr}
	resp, err := cl.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// TestNetnsMPTCPBecomesTCP (class 17): a real MPTCP client and a Go server
// that accepts MPTCP get a multipath connection without Axon, and a plain
// TCP one through it; the request is still decided.
func TestNetnsMPTCPBecomesTCP(t *testing.T) {
	netns.RequireRoot(t)
	subnet, base := netnsSubnet()
	n := netns.New(t, subnet)
	client := n.AddHost("client", base+"11")
	server := n.AddHost("server", base+"12")
	s := &mptcpServer{mptcpFor: map[string]bool{}}
	addr := s.serve(t, server)

	if err := mptcpGet(client, addr, "/api/v1/before"); err != nil {
		t.Fatalf("request without Axon: %v", err)
	}
	s.mu.Lock()
	before := s.mptcpFor["/api/v1/before"]
	s.mu.Unlock()
	if !before {
		t.Skip("this kernel does not give the client an MPTCP connection (net.mptcp.enabled=0 or no MPTCP): nothing to remove")
	}

	d := netnsDatapath(t)
	applyE2EPolicy(t, d, server)
	attachTC(t, "", server.Port, true, d.Egress())
	attachTC(t, "", server.Port, false, d.Reply())

	if err := mptcpGet(client, addr, "/api/v1/after"); err != nil {
		t.Fatalf("allowed request through Axon: %v", err)
	}
	s.mu.Lock()
	after, seen := s.mptcpFor["/api/v1/after"]
	s.mu.Unlock()
	if !seen || after {
		t.Fatalf("through Axon the server's connection is MPTCP=%v (seen %v), want plain TCP", after, seen)
	}
	if err := mptcpGet(client, addr, "/api/v1/admin"); err == nil || !strings.Contains(err.Error(), "reset") {
		t.Fatalf("denied request over an MPTCP-asking client: %v, want a reset", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.paths {
		if strings.Contains(p, "admin") {
			t.Fatalf("server saw %q", p)
		}
	}
}
