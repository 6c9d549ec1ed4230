package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// The benchmark's topology: two network namespaces on a bridge in the
// calling namespace, addresses from 10.94.0.0/24 (the range given to this
// benchmark; other tests use other ranges). --topo renames it (setTopo), so
// that a second run on a shared machine does not tear down the first's.
var (
	bridge     = "axbe0"
	bridgeAddr = "10.94.0.1"
	cliNS      = "axbe-cli"
	srvNS      = "axbe-srv"
	cliAddr    = "10.94.0.10"
	srvAddr    = "10.94.0.20"
	cliPort    = "axbe-vcli" // bridge port of the client
	srvPort    = "axbe-vsrv" // bridge port of the server: the agent attaches here
)

// setTopo names the topology's links and namespaces with prefix (at most 5
// characters: interface names are short) and takes its addresses from the
// /24 net (three octets, "10.91.0").
func setTopo(prefix, net string) error {
	if prefix == "" || len(prefix) > 5 || strings.Count(net, ".") != 2 {
		return fmt.Errorf("--topo %s,%s: want a prefix of 1-5 characters and a /24 as three octets", prefix, net)
	}
	bridge, cliNS, srvNS = prefix+"0", prefix+"-cli", prefix+"-srv"
	cliPort, srvPort = prefix+"-vcli", prefix+"-vsrv"
	bridgeAddr, cliAddr, srvAddr = net+".1", net+".10", net+".20"
	return nil
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// teardownTopo removes whatever an earlier run left; errors are expected.
func teardownTopo() {
	for _, l := range []string{cliPort, srvPort, bridge} {
		_ = exec.Command("ip", "link", "del", l).Run()
	}
	for _, ns := range []string{cliNS, srvNS} {
		_ = exec.Command("ip", "netns", "del", ns).Run()
	}
}

// setupTopo creates the bridge and the client and server namespaces.
func setupTopo() error {
	teardownTopo()
	steps := [][]string{
		{"link", "add", bridge, "type", "bridge"},
		{"addr", "add", bridgeAddr + "/24", "dev", bridge},
		{"link", "set", bridge, "up"},
	}
	for _, h := range []struct{ ns, port, addr string }{{cliNS, cliPort, cliAddr}, {srvNS, srvPort, srvAddr}} {
		steps = append(steps,
			[]string{"netns", "add", h.ns},
			[]string{"link", "add", h.port, "type", "veth", "peer", "name", h.port + "p"},
			[]string{"link", "set", h.port + "p", "netns", h.ns},
			[]string{"link", "set", h.port, "master", bridge, "up"},
			[]string{"-n", h.ns, "link", "set", h.port + "p", "name", "eth0"},
			[]string{"-n", h.ns, "addr", "add", h.addr + "/24", "dev", "eth0"},
			[]string{"-n", h.ns, "link", "set", "eth0", "up"},
			[]string{"-n", h.ns, "link", "set", "lo", "up"},
			[]string{"-n", h.ns, "route", "add", "default", "via", bridgeAddr},
		)
	}
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			return fmt.Errorf("creating topology: %w", err)
		}
	}
	return nil
}

// inNS returns a command running name in network namespace ns.
func inNS(ns, name string, args ...string) *exec.Cmd {
	c := exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	c.Stdin = nil
	return c
}

// daemon is a background process the benchmark started and stops.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}
}

func startDaemon(name, logPath string, c *exec.Cmd) (*daemon, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	c.Stdout, c.Stderr = f, f
	if err := c.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &daemon{name: name, cmd: c, log: f, done: make(chan struct{})}
	go func() { _ = c.Wait(); close(d.done) }()
	return d, nil
}

func (d *daemon) alive() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM to the process it started and waits for it.
func (d *daemon) stop() {
	if d == nil {
		return
	}
	if d.alive() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		<-d.done
	}
	d.log.Close()
}
