package agent

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/table"
	"github.com/axon-dev/axon/test/netns"
)

// TestVerifyKeepsHandshakeInProgress: an agent that checks the flows of an
// interface where an earlier agent's programs stayed attached keeps the
// flow of a connection whose handshake is under way. The server's socket is
// then a request socket (its SYN-ACK went out, the client's ACK has not
// come), which has received nothing. Such a flow was forgotten, and the
// connection's first request refused (no_flow): an allowed request reset by
// a restart.
func TestVerifyKeepsHandshakeInProgress(t *testing.T) {
	needRoot(t)
	n := netns.New(t, "10.57.2.0/24")
	pod, cli := n.AddHost("pod", "10.57.2.10"), n.AddHost("cli", "10.57.2.20")
	d, err := datapath.Open(datapath.WithClientSides(datapath.EgressSide))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := &BPFDatapath{Datapath: d}
	allow := table.Verdict{Action: table.ActionAllow, Rule: 1}
	id := table.FirstAllocatedIdentity
	tbl := &table.Table{
		Rules:      []table.Rule{{ID: 1, Policy: "allow-all", Index: -1, Action: table.ActionAllow, Mode: table.ModeEnforce}},
		Identities: []table.Identity{{ID: id}},
		PodIPs:     []table.PodIP{{Addr: pod.Addr, Identity: id}, {Addr: cli.Addr, Identity: id}},
		Endpoints:  []table.Endpoint{{ID: 1, Addr: pod.Addr, Port: 9000, Enforce: true, EnforceDefault: allow, FullDefault: allow}},
	}
	if err := d.Apply(tbl); err != nil {
		t.Fatal(err)
	}
	if problems := b.SyncPodInterfaces([]string{pod.Port}, tbl); len(problems) > 0 {
		t.Fatal(problems)
	}
	att, err := attach.New(attach.Config{PinDir: testPinDir(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := att.Attach([]string{pod.Port}, b.Programs()); err != nil {
		t.Fatal(err)
	}
	ln, err := pod.Listen("tcp", "10.57.2.10:9000")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// The server's SYN-ACKs go to a MAC address nobody holds: they pass
	// the reply program, which starts the flow, and never reach the client.
	if err := pod.StrandHandshakes(cli.Addr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cli.DialContext(ctx, "tcp", "10.57.2.10:9000")
	live := func() int {
		st, err := d.ExpireFlows(datapath.DefaultFlowExpiry)
		if err != nil {
			t.Fatal(err)
		}
		return st.Live
	}
	waitFor(t, 5*time.Second, "the server's SYN-ACK to start a flow", func() bool { return live() == 1 })
	ifc, err := net.InterfaceByName(pod.Port)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := b.VerifyFlowsOn(uint32(ifc.Index)); err != nil || n != 0 {
		t.Errorf("checking the flows against the server's sockets: %d forgotten (%v), want none", n, err)
	}
	if n := live(); n != 1 {
		t.Errorf("%d flows after the check, want the handshake's 1", n)
	}
}
