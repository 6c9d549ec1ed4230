package netns

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/vishvananda/netns"
)

// Do runs fn on an OS thread switched into the host's network namespace.
// Sockets created by fn stay in that namespace after Do returns.
func (h *Host) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("getting current netns: %w", err)
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(h.NS)
		if err != nil {
			errc <- fmt.Errorf("opening netns %s: %w", h.NS, err)
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("entering netns %s: %w", h.NS, err)
			runtime.UnlockOSThread()
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// The thread is stuck in the wrong namespace: keep it locked so
			// the runtime ends it with this goroutine.
			errc <- fmt.Errorf("leaving netns %s: %w", h.NS, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Listen opens a listener inside the host.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// DialContext connects from inside the host.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.Do(func() (err error) {
		var d net.Dialer
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// HTTPClient returns a Go HTTP client whose connections start inside the
// host. Keep-alive is off unless keepAlive is true, so each request is a
// fresh connection a test can reason about.
func (h *Host) HTTPClient(timeout time.Duration, keepAlive bool) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       h.DialContext,
			DisableKeepAlives: !keepAlive,
			ForceAttemptHTTP2: false,
		},
	}
}

// Sysctl sets a network sysctl ("net.ipv4.tcp_fastopen") inside the host
// by writing /proc/sys from a thread in its namespace, so it needs no
// sysctl binary (the kernel-matrix guests have none).
func (h *Host) Sysctl(key, value string) error {
	path := "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
	return h.Do(func() error {
		if err := os.WriteFile(path, []byte(value), 0); err != nil {
			return fmt.Errorf("setting %s in %s: %w", key, h.NS, err)
		}
		return nil
	})
}

// StrandHandshakes points h's neighbour entry for peer at a MAC address
// nobody holds: what h sends to peer leaves its interface and never
// arrives, so a server in h answers peer's SYNs with SYN-ACKs that never
// come back, and its socket stays a request socket.
func (h *Host) StrandHandshakes(peer netip.Addr) error {
	out, err := h.Run(context.Background(), "ip", "neigh", "replace", peer.String(),
		"lladdr", "02:00:00:00:00:01", "dev", h.Iface, "nud", "permanent")
	if err != nil {
		return fmt.Errorf("pointing %s's neighbour entry for %v away: %w: %s", h.Name, peer, err, out)
	}
	return nil
}
