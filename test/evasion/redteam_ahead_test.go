package evasion

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Red team rt31: the class-33 fix (c239c66) forgot a flow after the
// windows the agent could see: a table that leaves its endpoint out, an
// attachment Check finds lost. Check asked only whether Axon's program was
// still attached, not whether it still ran first: another TC program
// attached ahead of it (TCX, link.Head(): what Axon itself does to be
// first; a CNI, an observability agent) that returns TCX_PASS (TC_ACT_OK)
// ends the chain, and Axon's programs never see the packets. When that
// program went away, the agent had seen nothing, and the flow resumed at
// its stale next byte. Now the agent's check (every second) reports a
// program or filter ahead of Axon's as NOT ENFORCING, and forgets the
// interface's flows before it re-attaches: these tests keep the program
// ahead until the agent has reported it (a window shorter than one check
// is not seen: docs/security.md). Topology on 10.81.<n>.0/24 and
// fd81:<n>::/64.

// passAheadOfAxon attaches a program that returns TCX_PASS at the head of
// both TCX chains of iface; the returned function detaches it.
func passAheadOfAxon(t *testing.T, iface string) func() {
	t.Helper()
	ifc, err := net.InterfaceByName(iface)
	must(t, err)
	prog := passAll(t)
	var links []link.Link
	for _, at := range []ebpf.AttachType{ebpf.AttachTCXIngress, ebpf.AttachTCXEgress} {
		l, err := link.AttachTCX(link.TCXOptions{Interface: ifc.Index, Program: prog, Attach: at, Anchor: link.Head()})
		must(t, err)
		links = append(links, l)
	}
	done := false
	off := func() {
		if done {
			return
		}
		done = true
		for _, l := range links {
			_ = l.Close()
		}
		prog.Close()
	}
	t.Cleanup(off)
	return off
}

// TestRedteamStaleFlowAcrossProgramAhead: the bytes of
// TestRedteamStaleFlowAcrossReattach. The attacker (raw socket in the
// client pod) opens a connection while the policy is enforced (the flow is
// made). Another program is attached ahead of Axon's on the server pod's
// veth (both directions) for a while: the attacker sends the head of a
// denied request, not ended ("GET /api/admin/<tok> HTTP/1.1\r\nHost:
// srv\r\n"), which the server acknowledges and holds. The program is
// detached (the agent logged nothing). Then, at the connection's first
// sequence number (the flow's next byte), an allowed request of the same
// length plus "\r\n\r\n" ... the datapath parses an allowed request; the
// server trims the bytes it holds and takes the final "\r\n", ending the
// denied head: GET /api/admin/<tok> runs.
func TestRedteamStaleFlowAcrossProgramAhead(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.81", "fd81", 1)
	srvs, a := policedTopo(t, tp, "Enforce")
	staleAcrossAhead(t, tp, a, srvs, passAheadOfAxon)
}

// TestRedteamStaleFlowAcrossFilterAhead: the same with the agent in clsact
// mode (kernels before 6.6, or --attach-mode clsact): another cls_bpf
// filter (direct-action, returns TC_ACT_OK) added at Axon's priority 1
// with another handle runs ahead of Axon's filter (cls_bpf keeps the
// newest filter of a priority first). Check finds Axon's filter in place.
func TestRedteamStaleFlowAcrossFilterAhead(t *testing.T) {
	t.Parallel()
	tp := newTopoIn(t, "10.81", "fd81", 3)
	srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", "clsact")
	staleAcrossAhead(t, tp, a, srvs, passFilterAheadOfAxon)
}

// passFilterAheadOfAxon adds a pass-all cls_bpf filter at priority 1,
// handle 1, on both clsact hooks of iface; the returned function deletes it.
func passFilterAheadOfAxon(t *testing.T, iface string) func() {
	t.Helper()
	lk, err := netlink.LinkByName(iface)
	must(t, err)
	prog := passAll(t)
	var fs []*netlink.BpfFilter
	for _, parent := range []uint32{netlink.HANDLE_MIN_INGRESS, netlink.HANDLE_MIN_EGRESS} {
		f := &netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{LinkIndex: lk.Attrs().Index, Parent: parent, Handle: 1,
				Priority: 1, Protocol: unix.ETH_P_ALL},
			Fd: prog.FD(), Name: "rt31-ahead", DirectAction: true,
		}
		must(t, netlink.FilterAdd(f))
		fs = append(fs, f)
	}
	done := false
	off := func() {
		if done {
			return
		}
		done = true
		for _, f := range fs {
			_ = netlink.FilterDel(f)
		}
		prog.Close()
	}
	t.Cleanup(off)
	return off
}

// staleAcrossAhead runs the attack of TestRedteamStaleFlowAcrossProgramAhead
// on each server, with ahead making the window (it returns the end of it).
func staleAcrossAhead(t *testing.T, tp *topo, a *agent, srvs []server, ahead func(*testing.T, string) func()) {
	forServers(t, srvs, func(t *testing.T, s server) {
		staleControls(t, tp, s)
		tok := token("ahead")
		denied, allowed := twins(tok)
		f := tp.connect(t, s.Port(), false, nil)
		seen := strings.Count(a.Logs.String(), "runs ahead of Axon's")
		attached := strings.Count(a.Logs.String(), "msg=attached")
		off := ahead(t, tp.srv.Port)
		must(t, f.Data(f.ISN+1, denied[:len(denied)-2]))
		// The agent sees the program ahead at its next check (every
		// second): NOT ENFORCING, the interface's flows forgotten.
		deadline := time.Now().Add(5 * time.Second)
		for strings.Count(a.Logs.String(), "runs ahead of Axon's") == seen {
			if time.Now().After(deadline) {
				t.Fatalf("the agent did not report the program ahead of Axon's within 5 s:\n%s", a.Logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		off()
		waitReattached(t, a, attached)
		// Policed again (nothing else changed): a new denied request is reset.
		expectNewDeniedReset(t, tp, s, "after the program ahead is gone")
		must(t, f.Data(f.ISN+1, allowed))
		resp, rst := f.Response("\r\n\r\n", time.Second)
		t.Logf("%s: %s; agent: %s", s.Name(), describe(resp, rst), metricsSummary(a))
		expectNeverRun(t, s, tok, "GET /api/admin/"+tok+" whose head was sent while a program ahead of Axon's passed everything, ended after it was detached ("+describe(resp, rst)+")")
	})
}

// passAll loads a TC program that passes every packet (TC_ACT_OK, and
// TCX_PASS: it ends a TCX chain).
func passAll(t *testing.T) *ebpf.Program {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SchedCLS,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	must(t, err)
	return prog
}
