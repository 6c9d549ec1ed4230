package evasion

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/test/agentproc"
	"github.com/cilium/ebpf"
)

// pinnedSize is the capacity of the map pinned as name under dir (0 if
// none).
func pinnedSize(dir, name string) uint32 {
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
	if err != nil {
		return 0
	}
	defer m.Close()
	return m.MaxEntries()
}

// startLines are the lines of an agent log that say when its first table
// was applied and when it attached.
func startLines(log string) string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "msg=\"policy applied\"") || strings.Contains(l, "msg=attached") || strings.Contains(l, "refused on their next data") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// newTopo65 is newTopo on 10.65.<n>.0/24 and fd65:<n>::/64 (red team rt46).
func newTopo65(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.65", "fd65", n)
}

// TestRedteamRT46ResizeRestartUnpolicedFlow (rt46): Apply forgets the flows
// of endpoints the new table leaves out "after Settle", on the premise that
// no program still decides by the old table once the generation flipped.
// That premise fails when an agent starts with other map sizes (a --max-*
// flag changed, an upgrade): Open builds a new set of decision maps and a
// new config map for the new programs, while the programs the earlier agent
// attached keep the old set, and its old table, until Attach replaces them.
// The flows map is shared. So when the table the new agent applies at start
// leaves out an endpoint (a port taken out of the policy while no agent ran,
// a pod relabelled meanwhile), the sweep forgets its flows, and the old
// programs, still policing it, make new ones from SYN-ACKs until the attach
// (in TCX mode the attach adopts the links and forgets nothing; before it,
// the socket check of the interface's flows waits up to 4 x 25 ms while a
// flow has bytes in flight, which a client makes with one segment the
// server drops). Those flows then live on, unpoliced, until the flow expiry
// pass (10 s after the attach) or a later Apply that drops an endpoint; an
// Apply that polices the endpoint again forgets nothing. That is class 33
// again: the server takes a denied head the flow never sees while the
// endpoint is not policed, and once it is, an allowed copy at the flow's
// stale next byte ends it.
//
// Steps: agent A enforces the policy (Go, nginx, Python ports), TCX mode.
// A is SIGKILLed; the Go and nginx ports are taken out of the policy file.
// On the Python port (still policed) one allowed head is sent with a bad
// TCP checksum: parsed, dropped by the server, so its flow stays pending at
// the restart. Agent B starts on the same pins with --max-pod-ips 2048
// (resized maps) while the raw client opens connections to the Go and nginx
// ports one after another. Once B is in force, each connection sends
//
//	"GET /api/admin/<tok> HTTP/1.1\r\nHost: srv\r\n"
//
// (unpoliced: passes, the server holds it). The ports go back into the
// policy; once applied, each connection sends, at its first sequence
// number, the allowed twin of the same length plus "\r\n". A connection
// whose flow the old programs made after B's sweep runs its denied request.
// Controls: a raw allowed request arrives before, and a new denied request
// is reset once the ports are policed again.
//
// Variants: resized (TCX; dozens of connections per server run their
// denied request in every run); clsact-resized (a clsact restart forgets
// every flow of the interface right before the attach, so only SYN-ACKs in
// the millisecond before the reply program is replaced make a flow: one
// in some runs); resizer-killed-then-same-sizes (an agent with other sizes
// pins its new maps and is killed before it attaches; the next agent has
// the pins' sizes, resizes nothing and flips a config the attached programs
// never read: the same race, with no flag changed at that restart). The
// subtest same-sizes is the control: B starts without the flag, shares the
// pinned config with the old programs, and the sweep after the flip leaves
// no flow behind (it passed before the fix too: the leak needs the split
// config). The outcomes above are those before the fix. Closed: right after
// every attach the agent forgets the flows of endpoints the table in force
// does not police, and no table flip comes between an attach and that
// sweep (agent.forgetUnpolicedFlows); every variant now checks that no
// denied head ran.
func TestRedteamRT46ResizeRestartUnpolicedFlow(t *testing.T) {
	t.Parallel()
	for i, v := range []struct {
		name, mode   string
		args         []string
		midStart, v6 bool
	}{
		{"resized", "tcx", []string{"--max-pod-ips", "2048"}, false, false},
		{"same-sizes", "tcx", nil, false, false},
		{"clsact-resized", "clsact", []string{"--max-pod-ips", "2048"}, false, false},
		{"resizer-killed-then-same-sizes", "tcx", []string{"--max-pod-ips", "2048"}, true, false},
		// The raced connections over IPv6 (red team rt47).
		{"resized-v6", "tcx", []string{"--max-pod-ips", "2048"}, false, true},
		{"resizer-killed-v6", "tcx", []string{"--max-pod-ips", "2048"}, true, true},
	} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			testRT46RestartUnpolicedFlow(t, 1+i, v.mode, v.args, v.midStart, v.v6)
		})
	}
}

func testRT46RestartUnpolicedFlow(t *testing.T, n int, mode string, bArgs []string, midStart, v6 bool) {
	tp := newTopo65(t, n)
	srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", mode)
	var gosrv, ngx, py server
	for _, s := range srvs {
		switch s.Name() {
		case "go":
			gosrv = s
		case "nginx":
			ngx = s
		case "python":
			py = s
		}
	}
	for _, s := range srvs {
		tp.rawControl(t, s, false)
	}
	policyFile := filepath.Join(tp.dir, "policy.yaml")
	policyText, err := os.ReadFile(policyFile)
	must(t, err)

	// A flow B's socket check finds in flight: parsed, dropped by Python.
	pending := tp.connect(t, py.Port(), false, nil)
	_, allowed := twins(token("rt46pend"))
	sendDroppedCopy(t, pending, allowed[:len(allowed)-2])

	a.Kill()
	off := strings.Replace(string(policyText), "  - port: "+itoa(gosrv.Port())+"\n", "", 1)
	off = strings.Replace(off, "  - port: "+itoa(ngx.Port())+"\n", "", 1)
	tp.write("policy.yaml", off)

	if midStart {
		// An agent with other sizes pins its new maps, and is killed
		// before it attaches (a crash, a rollout): the programs attached
		// still read the old set. The next agent has the same sizes as
		// the pins: it resizes nothing, and takes the pinned config for
		// the one the attached programs read.
		r := agentproc.Launch(t, agentBin, agentproc.Config{PolicyDir: tp.dir, PinDir: a.PinDir, Ifaces: []string{tp.srv.Port}, Mode: mode, Args: bArgs})
		deadline := time.Now().Add(20 * time.Second)
		for pinnedSize(a.PinDir, bpf.AxonMapPodIps) != 4096 {
			if time.Now().After(deadline) {
				t.Fatalf("the resizing agent did not pin its maps within 20 s:\n%s", r.Logs.String())
			}
			time.Sleep(2 * time.Millisecond)
		}
		r.Kill()
		if strings.Contains(r.Logs.String(), "msg=attached") {
			t.Fatalf("the resizing agent attached before it was killed:\n%s", r.Logs.String())
		}
	}

	type raced struct {
		f   *Flow
		s   server
		tok string
		at  time.Time // handshake done
	}
	var (
		mu    sync.Mutex
		conns []raced
		stop  = make(chan struct{})
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s := gosrv
			if i%2 == 1 {
				s = ngx
			}
			f := tp.rawFlow(s.Port(), v6)
			if err := f.Handshake(nil, time.Second); err != nil {
				continue
			}
			mu.Lock()
			conns = append(conns, raced{f, s, token("rt46"), time.Now()})
			mu.Unlock()
			time.Sleep(time.Millisecond)
		}
	}()
	b := restartOn(t, tp, a.PinDir, mode, bArgs...)
	close(stop)
	<-done
	attachedAt := time.Now()
	t.Cleanup(func() {
		for _, c := range conns {
			c.f.Abort()
		}
	})
	t.Logf("%d connections opened across the restart", len(conns))

	// Unpoliced now: every connection's denied head passes.
	for _, c := range conns {
		denied, _ := twins(c.tok)
		must(t, c.f.Data(c.f.ISN+1, denied[:len(denied)-2]))
	}
	time.Sleep(300 * time.Millisecond) // the servers acknowledge the heads
	tp.write("policy.yaml", string(policyText))
	waitGeneration(t, b, 2, 10*time.Second)
	if since := time.Since(attachedAt); since > 9*time.Second {
		t.Logf("policed again %v after the attach: the expiry pass may have run", since)
	}
	for _, s := range []server{gosrv, ngx} {
		expectNewDeniedReset(t, tp, s, "after the ports are policed again")
	}
	for _, c := range conns {
		_, allowed := twins(c.tok)
		must(t, c.f.Data(c.f.ISN+1, allowed))
	}
	time.Sleep(time.Second)
	for _, s := range []server{gosrv, ngx} {
		var ran, when []string
		n := 0
		for _, c := range conns {
			if c.s.Name() != s.Name() {
				continue
			}
			n++
			for _, l := range s.Log() {
				if strings.Contains(l, c.tok) && !(s.Name() == "nginx" && strings.HasSuffix(strings.TrimSpace(l), "\" 400")) {
					ran = append(ran, l)
					when = append(when, c.at.UTC().Format("15:04:05.000"))
				}
			}
		}
		if len(ran) > 0 {
			t.Errorf("LEAK %s: of %d connections opened while agent B started (flags %q), %d ran GET /api/admin/<tok>, "+
				"its head sent while the port was not policed and ended by an allowed copy once it was again; server log shows %q",
				s.Name(), n, bArgs, len(ran), ran)
			t.Logf("%s: handshakes of the connections that ran it ended at %v; agent B:\n%s", s.Name(), when, startLines(b.Logs.String()))
		}
	}
	t.Logf("drops: %s", metricsSummary(b))
}
