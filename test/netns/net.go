package netns

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// RequireRoot skips t unless the test runs as root. Where privileges are
// required (CI=true, or AXON_REQUIRE_ROOT=1 as make test sets it), a test
// that cannot run fails instead: a skipped BPF or netns test must never be
// counted as passing.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" || os.Getenv("AXON_REQUIRE_ROOT") == "1" {
		t.Fatal("needs root, and this run requires every privileged test to run (CI=true or AXON_REQUIRE_ROOT=1)")
	}
	t.Skip("needs root")
}

// Net is a bridge in the calling process's network namespace with an
// address from one subnet; hosts join it through veth pairs.
type Net struct {
	t      testing.TB
	id     string
	Bridge string       // bridge interface name
	Prefix netip.Prefix // the subnet; the bridge has its first address
	hosts  int
}

// New creates a bridge for subnet (e.g. "10.78.1.0/24"). The bridge gets the
// subnet's first address, so the test process itself is a host at it.
func New(t testing.TB, subnet string) *Net {
	t.Helper()
	RequireRoot(t)
	prefix, err := netip.ParsePrefix(subnet)
	if err != nil {
		t.Fatalf("parsing subnet: %v", err)
	}
	prefix = prefix.Masked()
	n := &Net{t: t, id: randomID(), Prefix: prefix}
	n.Bridge = "axb" + n.id
	t.Cleanup(func() { _ = ip("link", "del", n.Bridge) })
	mustIP(t, "link", "add", n.Bridge, "type", "bridge")
	mustIP(t, "addr", "add", n.GatewayAddr().String()+"/"+fmt.Sprint(prefix.Bits()), "dev", n.Bridge)
	mustIP(t, "link", "set", n.Bridge, "up")
	return n
}

// GatewayAddr is the bridge's address: the test process as seen by hosts.
func (n *Net) GatewayAddr() netip.Addr { return n.Prefix.Addr().Next() }

// AddHost creates a network namespace with an interface eth0 at addr, whose
// veth peer (Host.Port) is a port of the bridge.
func (n *Net) AddHost(name, addr string) *Host {
	t := n.t
	t.Helper()
	a, err := netip.ParseAddr(addr)
	if err != nil || !n.Prefix.Contains(a) {
		t.Fatalf("host %s: address %q is not in %s", name, addr, n.Prefix)
	}
	n.hosts++
	h := &Host{
		Name:   name,
		NS:     fmt.Sprintf("axt-%s-%s", n.id, name),
		Addr:   a,
		Port:   fmt.Sprintf("axv%s%d", n.id, n.hosts),
		Iface:  "eth0",
		Subnet: n.Prefix,
	}
	t.Cleanup(func() {
		_ = ip("link", "del", h.Port)
		_ = ip("netns", "del", h.NS)
	})
	mustIP(t, "netns", "add", h.NS)
	peer := h.Port + "p"
	mustIP(t, "link", "add", h.Port, "type", "veth", "peer", "name", peer)
	mustIP(t, "link", "set", peer, "netns", h.NS)
	mustIP(t, "link", "set", h.Port, "master", n.Bridge)
	mustIP(t, "link", "set", h.Port, "up")
	mustIP(t, "-n", h.NS, "link", "set", peer, "name", h.Iface)
	mustIP(t, append([]string{"-n", h.NS, "addr", "add", fmt.Sprintf("%s/%d", a, n.Prefix.Bits()), "dev", h.Iface}, noDAD(a)...)...)
	mustIP(t, "-n", h.NS, "link", "set", h.Iface, "up")
	mustIP(t, "-n", h.NS, "link", "set", "lo", "up")
	mustIP(t, "-n", h.NS, "route", "add", "default", "via", n.GatewayAddr().String())
	return h
}

// Pair creates two hosts joined directly by one veth pair, without a bridge:
// the smallest two-namespace topology. Each host's Port is empty.
func Pair(t testing.TB, subnet, nameA, addrA, nameB, addrB string) (*Host, *Host) {
	t.Helper()
	RequireRoot(t)
	prefix, err := netip.ParsePrefix(subnet)
	if err != nil {
		t.Fatalf("parsing subnet: %v", err)
	}
	id := randomID()
	var hosts [2]*Host
	for i, nm := range [2][2]string{{nameA, addrA}, {nameB, addrB}} {
		a, err := netip.ParseAddr(nm[1])
		if err != nil || !prefix.Contains(a) {
			t.Fatalf("host %s: address %q is not in %s", nm[0], nm[1], prefix)
		}
		h := &Host{Name: nm[0], NS: fmt.Sprintf("axt-%s-%s", id, nm[0]), Addr: a, Iface: fmt.Sprintf("axp%s%d", id, i), Subnet: prefix.Masked()}
		t.Cleanup(func() { _ = ip("netns", "del", h.NS) })
		mustIP(t, "netns", "add", h.NS)
		hosts[i] = h
	}
	a, b := hosts[0], hosts[1]
	mustIP(t, "link", "add", a.Iface, "netns", a.NS, "type", "veth", "peer", "name", b.Iface, "netns", b.NS)
	for _, h := range hosts {
		mustIP(t, append([]string{"-n", h.NS, "addr", "add", fmt.Sprintf("%s/%d", h.Addr, prefix.Bits()), "dev", h.Iface}, noDAD(h.Addr)...)...)
		mustIP(t, "-n", h.NS, "link", "set", h.Iface, "up")
		mustIP(t, "-n", h.NS, "link", "set", "lo", "up")
	}
	return a, b
}

// noDAD is the "ip addr add" option that makes an IPv6 address usable at
// once. Without it the address stays tentative during duplicate address
// detection (about 1 s after the link comes up, a random part of it per
// address): a host whose address is still tentative connects from its
// link-local address, so its peer sees an address no test host has, and a
// server cannot bind it yet. Test addresses are unique by construction.
func noDAD(a netip.Addr) []string {
	if a.Is4() || a.Is4In6() {
		return nil
	}
	return []string{"nodad"}
}

// Host is a network namespace with one interface in a test topology.
type Host struct {
	Name   string       // the test's name for it
	NS     string       // the network namespace name (ip netns)
	Addr   netip.Addr   // address of Iface
	Iface  string       // interface inside NS
	Port   string       // the veth peer in the test process's namespace, a bridge port ("" for Pair)
	Subnet netip.Prefix // the subnet Addr is in
}

// Command returns a command that runs name with args inside the host.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.NS, name}, args...)...)
}

// Run runs a command inside the host and returns its combined output.
func (h *Host) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := h.Command(ctx, name, args...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("running %s in %s: %w: %s", name, h.NS, err, bytes.TrimSpace(out))
	}
	return out, nil
}

func randomID() string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func ip(args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func mustIP(t testing.TB, args ...string) {
	t.Helper()
	if err := ip(args...); err != nil {
		t.Fatal(err)
	}
}
