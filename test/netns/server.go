package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is an HTTP/1.1 server inside a host that records the request line
// of every request it receives, so a test can prove a request never arrived.
type Server struct {
	Addr string // host:port it listens on

	mu    sync.Mutex
	lines []string
	srv   *http.Server
}

// Serve starts a recording server on the host's address and port. Every
// request gets 200 and the body "ok <method> <target>\n". It stops at cleanup.
func (h *Host) Serve(t testing.TB, port int) *Server {
	t.Helper()
	addr := net.JoinHostPort(h.Addr.String(), fmt.Sprint(port))
	l, err := h.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listening in %s: %v", h.NS, err)
	}
	s := &Server{Addr: addr}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.mu.Lock()
			s.lines = append(s.lines, r.Method+" "+r.RequestURI+" "+r.Proto)
			s.mu.Unlock()
			_, _ = fmt.Fprintf(w, "ok %s %s\n", r.Method, r.RequestURI)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("server in %s: %v", h.NS, err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = s.srv.Shutdown(ctx)
	})
	return s
}

// Requests returns the request lines received so far, in order.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// Saw reports whether some received request line contains substr.
func (s *Server) Saw(substr string) bool {
	for _, l := range s.Requests() {
		if strings.Contains(l, substr) {
			return true
		}
	}
	return false
}
