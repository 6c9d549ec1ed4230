package evasion

import (
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// newTopo43 is newTopo on 10.43.<n>.0/24 and fd43:<n>::/64 (red team rt43).
func newTopo43(t *testing.T, n int) *topo {
	t.Helper()
	return newTopoIn(t, "10.43", "fd43", n)
}

// TestRedteamRT43StaleFlowAcrossProgramAheadWhileDown (rt43): the restarted
// agent keeps an interface's flows when InPlace finds the killed agent's
// attachment there and first *now*; it cannot tell whether it stayed first
// all along. While no agent runs, another TC program that passes everything
// (TC_ACT_OK / TCX_PASS) is put ahead of Axon's on the server's veth, the
// way TestRedteamStaleFlowAcrossDownedAttachment removes the attachment
// instead, and is removed again before the next agent starts. Meanwhile the
// head of a denied request reaches the server unseen; the flow still says
// nothing was let through. The new agent keeps the flow, and an allowed
// request of the same length at the flow's old next byte plus "\r\n" ends
// the denied head the server holds.
//
// A running agent would have seen the program ahead within a second
// (ErrNotFirst: NOT ENFORCING, the interface's flows forgotten); before
// 7ecce18 every start forgot every flow. Fixed: a restarted agent keeps
// only the flows the server's own socket vouches for (it has received no
// more of the client's stream than the flow let through).
func TestRedteamRT43StaleFlowAcrossProgramAheadWhileDown(t *testing.T) {
	t.Parallel()
	for i, mode := range []string{"clsact", "tcx"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			tp := newTopo43(t, 1+i)
			srvs, a := policedTopo(t, tp, "Enforce", "--attach-mode", mode)
			conns := openRawConns(t, tp, srvs, "ahead")
			a.Kill()
			remove := passAhead(t, mode, tp.srv.Port)
			sendDeniedHead(t, conns)
			remove()
			restartOn(t, tp, a.PinDir, mode)
			expectHeldNeverRun(t, tp, srvs, conns, sendAllowedTwin(t), "whose head passed a program ahead of Axon's while no agent ran")
		})
	}
}

// passAhead attaches a program that lets everything through ahead of
// Axon's on both directions of iface (mode: clsact or tcx), as another
// tool would, and returns what removes it.
func passAhead(t *testing.T, mode, iface string) (remove func()) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "rt43_pass", Type: ebpf.SchedCLS, License: "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Fatalf("loading the pass program: %v", err)
	}
	lk, err := netlink.LinkByName(iface)
	if err != nil {
		t.Fatal(err)
	}
	var undo []func()
	for _, dir := range []string{"ingress", "egress"} {
		if mode == "tcx" {
			at := ebpf.AttachTCXIngress
			if dir == "egress" {
				at = ebpf.AttachTCXEgress
			}
			l, err := link.AttachTCX(link.TCXOptions{Interface: lk.Attrs().Index, Program: prog, Attach: at, Anchor: link.Head()})
			if err != nil {
				t.Fatal(err)
			}
			undo = append(undo, func() { l.Close() })
			continue
		}
		parent := uint32(netlink.HANDLE_MIN_INGRESS)
		if dir == "egress" {
			parent = netlink.HANDLE_MIN_EGRESS
		}
		// Axon's filter is at priority 1; a filter added at the same
		// priority is listed (and run) before it.
		f := &netlink.BpfFilter{
			FilterAttrs: netlink.FilterAttrs{LinkIndex: lk.Attrs().Index, Parent: parent, Handle: 1, Priority: 1, Protocol: unix.ETH_P_ALL},
			Fd:          prog.FD(), Name: "rt43", DirectAction: true,
		}
		if err := netlink.FilterAdd(f); err != nil {
			t.Fatal(err)
		}
		undo = append(undo, func() {
			if err := netlink.FilterDel(f); err != nil {
				t.Errorf("removing the filter ahead: %v", err)
			}
		})
	}
	done := false
	remove = func() {
		if done {
			return
		}
		done = true
		for _, u := range undo {
			u()
		}
		prog.Close()
	}
	t.Cleanup(remove)
	return remove
}

// TestRedteamProgramAheadBetweenChecks: the running agent checks every
// second that its programs run first. A program put ahead of Axon's TCX
// program and removed within one check is never seen ahead, and the head
// of a denied request it let through unseen stays in the server while the
// flow says nothing was let through (docs/security.md listed this as known
// open). The hook's revision moved meanwhile: the next check forgets the
// interface's flows, so the allowed twin sent after it is refused.
func TestRedteamProgramAheadBetweenChecks(t *testing.T) {
	t.Parallel()
	tp := newTopo43(t, 7)
	srvs, _ := policedTopo(t, tp, "Enforce", "--attach-mode", "tcx")
	conns := openRawConns(t, tp, srvs, "between")
	remove := passAhead(t, "tcx", tp.srv.Port)
	for _, c := range conns {
		denied, _ := twins(c.tok)
		must(t, c.f.Data(c.f.ISN+1, denied[:len(denied)-2]))
	}
	remove()
	time.Sleep(1500 * time.Millisecond) // one check at least
	expectHeldNeverRun(t, tp, srvs, conns, sendAllowedTwin(t), "whose head passed a program ahead of Axon's between two checks")
}
