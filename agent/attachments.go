package agent

import (
	"errors"
	"net"
	"slices"
	"time"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/datapath"
	"github.com/vishvananda/netlink"
)

// unattached lists the interfaces with a direction not attached.
func (a *Agent) unattached() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, ifc := range a.ifaces {
		for _, d := range attach.Directions {
			if a.attachErrs[ifc+"/"+string(d)] != nil {
				out = append(out, ifc)
				break
			}
		}
	}
	return out
}

// staleFlows returns the interfaces among ifaces whose flows went stale
// while nothing ran there (their attachment was lost, or this agent has not
// attached there yet and no earlier agent's attachment is in place), and
// those whose flows must be checked against the server's sockets: this
// agent has not attached there yet and the earlier agent's pinned programs
// are still attached. They ran while no agent did, so their flows are
// normally current (forgetting them would reset every open connection at
// its next request), but nothing in the attachment says they saw every
// packet meanwhile (another program may have run ahead of them for a
// while).
func (a *Agent) staleFlows(ifaces []string) (stale, verify []string) {
	var first []string
	a.mu.Lock()
	for _, ifc := range ifaces {
		lost, unseen := false, false
		for _, d := range attach.Directions {
			switch err := a.attachErrs[ifc+"/"+string(d)]; {
			case errors.Is(err, ErrNotAttached):
				unseen = true
			case err != nil:
				lost = true
			}
		}
		switch {
		case lost:
			stale = append(stale, ifc)
		case unseen:
			first = append(first, ifc)
		}
	}
	a.mu.Unlock()
	for _, ifc := range first {
		if a.att.InPlace(ifc) {
			verify = append(verify, ifc)
		} else {
			stale = append(stale, ifc)
		}
	}
	return stale, verify
}

func (a *Agent) attachAll() { a.attach(a.interfaces()) }

// interfaces returns the interfaces the agent attaches to now.
func (a *Agent) interfaces() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.ifaces)
}

// verifyAttachments marks attachments the kernel dropped (an interface
// deleted and recreated, a filter removed by hand) as failed, so that
// readiness drops and the next attach puts them back. It returns the
// node's links as it listed them, taken after any attach before it: an
// interface attached since is in the list.
func (a *Agent) verifyAttachments() ([]netlink.Link, error) {
	a.attachMu.Lock()
	defer a.attachMu.Unlock()
	links, listErr := attach.LinkList()
	ats := a.att.CheckLinks(links, listErr, a.interfaces(), a.dp.Programs())
	// A hook changed since the last check while Axon's program still runs
	// first: another program may have run ahead of it in between.
	var changed []string
	for _, at := range ats {
		if at.Err == nil && at.HookChanged && !slices.Contains(changed, at.Interface) {
			changed = append(changed, at.Interface)
			a.log.Warn("a program was attached or detached on the interface's tcx hooks since the last check: its flows are forgotten", "interface", at.Interface)
		}
	}
	// The changed hooks' revisions are recorded only once their flows are
	// forgotten: an agent killed in between leaves the old ones, and its
	// successor forgets the flows too.
	failed := a.forgetFlows(changed)
	a.att.RecordRevisions(slices.DeleteFunc(slices.Clone(ats), func(at attach.Attachment) bool {
		return !at.HookChanged || slices.Contains(failed, at.Interface)
	}))
	a.mu.Lock()
	var lost []attach.Attachment
	for _, at := range ats {
		key := at.Interface + "/" + string(at.Direction)
		if at.Err != nil && a.attachErrs[key] == nil {
			a.attachErrs[key] = at.Err
			lost = append(lost, at)
		}
	}
	for _, at := range lost {
		a.setAttachedLocked(at.Interface, at.Direction, 0)
	}
	a.mu.Unlock()
	for _, at := range lost {
		a.log.Error("NOT ENFORCING: attachment lost, re-attaching", "interface", at.Interface,
			"direction", at.Direction, "error", at.Err)
	}
	if len(lost) > 0 {
		a.updateEnforcing()
	}
	return links, listErr
}

func (a *Agent) attach(ifaces []string) {
	a.attachMu.Lock()
	defer a.attachMu.Unlock()
	// The pod behind an interface is recorded before programs run there.
	a.syncPodInterfaces(ifaces, a.Table())
	// Interfaces whose flows went stale must lose them before the
	// programs run again.
	stale, verify := a.staleFlows(ifaces)
	failed := a.forgetFlows(stale)
	failed = append(failed, a.verifyFlows(verify)...)
	a.flipMu.Lock()
	ats, err := a.att.Attach(ifaces, a.dp.Programs())
	a.forgetUnpolicedFlows(ats)
	a.flipMu.Unlock()
	// Attachments made anew rather than found in place (an agent started
	// while one was gone, a TCX hook changed since its revision was
	// recorded): the same, with the programs already running.
	var fresh []string
	for _, at := range ats {
		if at.Err == nil && !at.Adopted && !slices.Contains(fresh, at.Interface) {
			fresh = append(fresh, at.Interface)
		}
	}
	failed = append(failed, a.forgetFlows(fresh)...)
	// Only now are the hooks' revisions recorded (attach.RecordRevisions).
	a.att.RecordRevisions(slices.DeleteFunc(slices.Clone(ats), func(at attach.Attachment) bool {
		return slices.Contains(failed, at.Interface)
	}))
	a.mu.Lock()
	for _, at := range ats {
		a.attachErrs[at.Interface+"/"+string(at.Direction)] = at.Err
		if at.Err != nil {
			a.setAttachedLocked(at.Interface, at.Direction, 0)
		} else {
			a.setAttachedLocked(at.Interface, at.Direction, 1)
		}
	}
	a.mu.Unlock()
	if err != nil {
		a.m.AttachErrs.Inc()
		a.log.Error("NOT ENFORCING on some interfaces: attach failed", "error", err)
	} else {
		removed, perr := a.att.Prune(a.interfaces())
		a.m.Pruned.Add(float64(len(removed)))
		if perr != nil {
			a.log.Error("removing stale attachments", "error", perr)
		}
	}
	a.updateEnforcing()
}

// setAttachedLocked sets axon_attached for one interface and direction,
// labelled with the attach mechanism: the one resolved by the first
// successful attach, "auto" (when so configured) before any. Each interface
// and direction has exactly one series: when the label changes, the series
// with the old label is deleted rather than left behind at 0.
func (a *Agent) setAttachedLocked(iface string, d attach.Direction, v float64) {
	key, mode := iface+"/"+string(d), string(a.att.Mode())
	if old, ok := a.attachMode[key]; ok && old != mode {
		a.m.Attached.DeleteLabelValues(iface, string(d), old)
	}
	a.attachMode[key] = mode
	a.m.Attached.WithLabelValues(iface, string(d), mode).Set(v)
}

// updateEnforcing sets axon_enforcing from the readiness. It holds the lock
// while setting, so that the reload and attach goroutines cannot leave the
// gauge at a value computed from older state.
func (a *Agent) updateEnforcing() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.readyLocked() == nil {
		a.m.Enforcing.Set(1)
	} else {
		a.m.Enforcing.Set(0)
	}
}

// FlowForgetter is implemented by datapaths that keep per-connection
// state: ForgetFlowsOn deletes the flows recorded on one interface.
type FlowForgetter interface {
	ForgetFlowsOn(ifindex uint32) (int, error)
}

// forgetFlows deletes the flows of connections through ifaces, interfaces
// whose programs did not run for a while: traffic passed there unseen, so
// the flows no longer know where their streams stand (the server may hold
// bytes they never saw). Those connections' next data is refused
// (no_flow), as for connections opened before the attach. It returns the
// interfaces whose flows it could not forget.
func (a *Agent) forgetFlows(ifaces []string) (failed []string) {
	ff, ok := a.dp.(FlowForgetter)
	if !ok {
		return nil
	}
	for _, name := range ifaces {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			continue // gone: its flows cannot match a new interface's index
		}
		n, err := ff.ForgetFlowsOn(uint32(ifc.Index))
		if err != nil {
			a.log.Error("forgetting the flows of an interface that was not enforced", "interface", name, "error", err)
			failed = append(failed, name)
			continue
		}
		if n > 0 {
			a.log.Warn("connections that passed while the interface was not enforced will be refused on their next data",
				"interface", name, "connections", n)
		}
	}
	return failed
}

// UnpolicedFlowForgetter is implemented by datapaths that can forget the
// flows of endpoints the table in force does not police.
type UnpolicedFlowForgetter interface {
	ForgetUnpolicedFlows() (int, error)
}

// forgetUnpolicedFlows forgets, right after an attach, the flows of
// endpoints the table in force does not police. The programs the attach
// replaced may have run on another agent's maps (one started with other map
// sizes, or killed after it pinned resized maps and before it attached):
// they decided by that agent's table, not by the one in force, and made
// flows for endpoints this table leaves out after Apply forgot them; such a
// flow outlived the endpoint's unpoliced window (red team rt46). The caller
// holds flipMu, so no table flip comes between the attach and the sweep;
// Settle lets replaced programs still running on another CPU finish first.
func (a *Agent) forgetUnpolicedFlows(ats []attach.Attachment) {
	uf, ok := a.dp.(UnpolicedFlowForgetter)
	if !ok || !slices.ContainsFunc(ats, func(at attach.Attachment) bool { return at.Err == nil }) {
		return
	}
	time.Sleep(datapath.Settle)
	n, err := uf.ForgetUnpolicedFlows()
	if err != nil {
		a.log.Error("forgetting the flows of endpoints no longer policed after attaching", "error", err)
		return
	}
	if n > 0 {
		a.log.Warn("connections of endpoints this policy does not police, followed by the programs the attach replaced, will be refused on their next data",
			"connections", n)
	}
}

// FlowVerifier is implemented by datapaths that can check the flows of an
// interface against the server sockets of the pod behind it:
// VerifyFlowsOn deletes those the sockets do not vouch for (all of them
// where no pod namespace is known); on an error the caller forgets them.
type FlowVerifier interface {
	VerifyFlowsOn(ifindex uint32) (int, error)
}

// verifyFlows checks the flows of ifaces, interfaces whose pinned programs
// an earlier agent left attached, against their servers' sockets
// (FlowVerifier); a datapath that cannot check forgets them. It returns
// the interfaces whose flows it could not forget.
func (a *Agent) verifyFlows(ifaces []string) (failed []string) {
	fv, ok := a.dp.(FlowVerifier)
	if !ok {
		return a.forgetFlows(ifaces)
	}
	for _, name := range ifaces {
		ifc, err := net.InterfaceByName(name)
		if err != nil {
			continue
		}
		n, err := fv.VerifyFlowsOn(uint32(ifc.Index))
		if err != nil {
			a.log.Error("checking the flows of an interface against its server sockets: forgetting them", "interface", name, "error", err)
			failed = append(failed, a.forgetFlows([]string{name})...)
			continue
		}
		if n > 0 {
			a.log.Warn("connections whose server holds bytes the datapath did not see will be refused on their next data",
				"interface", name, "connections", n)
		}
	}
	return failed
}
