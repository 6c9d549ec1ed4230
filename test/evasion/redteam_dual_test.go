package evasion

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
)

// listenerSpec is one listening socket of a multi-socket server: its
// network ("tcp", "tcp4", "tcp6"), address and whether it sets
// SO_REUSEPORT.
type listenerSpec struct {
	network, addr string
	reusePort     bool
}

// multiServer is the Go server of servers_test.go serving on several
// sockets of one port, counting the requests each socket served.
type multiServer struct {
	*goServer
	mu     sync.Mutex
	served map[string]int // listener -> requests served
}

func startMultiServer(t *testing.T, h *netns.Host, port int, specs []listenerSpec) *multiServer {
	t.Helper()
	s := &multiServer{goServer: &goServer{port: port}, served: map[string]int{}}
	for i, sp := range specs {
		lc := net.ListenConfig{}
		if sp.reusePort {
			lc.Control = func(_, _ string, c syscall.RawConn) error {
				var serr error
				if err := c.Control(func(fd uintptr) {
					serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
				}); err != nil {
					return err
				}
				return serr
			}
		}
		var l net.Listener
		err := h.Do(func() (err error) {
			l, err = lc.Listen(context.Background(), sp.network, sp.addr)
			return err
		})
		if err != nil {
			t.Fatalf("listening on %s %s in %s: %v", sp.network, sp.addr, h.NS, err)
		}
		name := fmt.Sprintf("#%d %s %s reuseport=%v", i, sp.network, sp.addr, sp.reusePort)
		srv := &http.Server{
			Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				s.mu.Lock()
				s.served[name]++
				s.mu.Unlock()
				s.serve(w, r)
			}),
			ReadHeaderTimeout: 10 * time.Second,
		}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { _ = srv.Close() })
	}
	return s
}

// TestRedteamDualListeners: a server pod that listens on a policed port
// with more than one socket. Every denied request, over IPv4 and IPv6,
// must be reset whichever socket the server's stack hands it to:
//
//   - separate: an IPv4-only socket on 0.0.0.0 and an IPv6-only socket
//     (IPV6_V6ONLY, Go's "tcp6") on [::], same port.
//   - reuseport: four dual-stack sockets on the same port with
//     SO_REUSEPORT; the stack spreads connections over them.
//   - reuseport-split: SO_REUSEPORT on an IPv4-only and an IPv6-only
//     socket, plus a dual-stack one.
//
// Each family gets n denied and n allowed requests from curl (fresh
// connections, so fresh source ports) and n denied ones from the raw
// attacker. The allowed ones must answer 200; the test logs how many
// requests each socket served.
func TestRedteamDualListeners(t *testing.T) {
	t.Parallel()
	tp := newTopo98(t, 2)
	tp.policy("Enforce", "")
	setups := []struct {
		name  string
		port  int
		specs []listenerSpec
	}{
		{"separate", goPort, []listenerSpec{{"tcp4", fmt.Sprintf("0.0.0.0:%d", goPort), false}, {"tcp6", fmt.Sprintf("[::]:%d", goPort), false}}},
		{"reuseport", nginxPort, []listenerSpec{
			{"tcp", fmt.Sprintf(":%d", nginxPort), true}, {"tcp", fmt.Sprintf(":%d", nginxPort), true},
			{"tcp", fmt.Sprintf(":%d", nginxPort), true}, {"tcp", fmt.Sprintf(":%d", nginxPort), true}}},
		{"reuseport-split", pythonPort, []listenerSpec{
			{"tcp4", fmt.Sprintf("0.0.0.0:%d", pythonPort), true}, {"tcp6", fmt.Sprintf("[::]:%d", pythonPort), true},
			{"tcp", fmt.Sprintf(":%d", pythonPort), true}}},
	}
	srvs := make([]*multiServer, len(setups))
	for i, su := range setups {
		srvs[i] = startMultiServer(t, tp.srv, su.port, su.specs)
	}
	tp.startAgent()
	const n = 12
	for i, su := range setups {
		s := srvs[i]
		t.Run(su.name, func(t *testing.T) {
			for _, v6 := range []bool{false, true} {
				fam, host := "ipv4", tp.srv.Addr.String()
				if v6 {
					fam, host = "ipv6", "["+tp.srv6.String()+"]"
				}
				base := fmt.Sprintf("http://%s:%d", host, su.port)
				var denied, allowed []string
				for k := 0; k < n; k++ {
					tok := token("dual-" + fam)
					denied = append(denied, tok)
					if got := curl(t, tp.cli, base+"/api/admin/"+tok); got != "reset" {
						t.Errorf("%s %s: curl GET /api/admin/%s: %s, want reset", su.name, fam, tok, got)
					}
					ok := token("/api/v1/dual-" + fam)
					allowed = append(allowed, ok)
					if got := curl(t, tp.cli, base+ok); got != "200" {
						t.Errorf("%s %s: curl GET %s: %s, want 200", su.name, fam, ok, got)
					}
					rtok := token("dualraw-" + fam)
					denied = append(denied, rtok)
					f := tp.connect(t, su.port, v6, nil)
					must(t, f.Data(f.ISN+1, request("/api/admin/"+rtok)))
					resp, rst := f.Response("\r\n\r\n", time.Second)
					if !rst || resp != "" {
						t.Errorf("%s %s: raw GET /api/admin/%s: %s, want reset and no answer", su.name, fam, rtok, describe(resp, rst))
					}
				}
				time.Sleep(150 * time.Millisecond)
				for _, tok := range denied {
					if logged(s, tok) {
						t.Errorf("LEAK %s %s: GET /api/admin/%s ran on the server", su.name, fam, tok)
					}
				}
				for _, ok := range allowed {
					expectArrived(t, s, ok, su.name+" "+fam+" allowed request")
				}
			}
			s.mu.Lock()
			t.Logf("%s: requests served per socket: %v", su.name, s.served)
			s.mu.Unlock()
			if strings.HasPrefix(su.name, "reuseport") && len(s.served) < 2 {
				t.Errorf("%s: only %d socket(s) served requests; the test did not exercise SO_REUSEPORT", su.name, len(s.served))
			}
		})
	}
}
