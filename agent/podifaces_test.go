package agent

import (
	"net"
	"net/netip"
	"testing"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/table"
	"github.com/axon-dev/axon/test/netns"
)

// TestPodAddressOnTwoVeths: when two veths' peers hold one pod address (a
// pod's namespace lingering after its IP went to a new pod), the one created
// last owns the address, on every sync: the live pod's packets are not
// dropped as spoofed_source. In Go's map order the owner was a coin flip.
func TestPodAddressOnTwoVeths(t *testing.T) {
	netns.RequireRoot(t)
	n := netns.New(t, "10.57.1.0/24")
	old := n.AddHost("old", "10.57.1.20")
	live := n.AddHost("live", "10.57.1.20")
	d, err := datapath.Open(datapath.WithClientSides(datapath.EgressSide))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	b := &BPFDatapath{Datapath: d}
	oldIfc, err := net.InterfaceByName(old.Port)
	if err != nil {
		t.Fatal(err)
	}
	liveIfc, err := net.InterfaceByName(live.Port)
	if err != nil {
		t.Fatal(err)
	}
	if liveIfc.Index <= oldIfc.Index {
		t.Fatalf("the later veth has ifindex %d, the earlier %d: want it higher", liveIfc.Index, oldIfc.Index)
	}
	pod := netip.MustParseAddr("10.57.1.20")
	tbl := &table.Table{PodIPs: []table.PodIP{{Addr: pod, Identity: 7}}}
	for i := 0; i < 16; i++ {
		if problems := b.SyncPodInterfaces([]string{live.Port}, tbl); len(problems) > 0 {
			t.Fatalf("sync %d: %v", i, problems)
		}
		owner, ok, err := d.PodAddressOwner(pod)
		if err != nil || !ok || owner != uint32(liveIfc.Index) {
			t.Fatalf("sync %d: %v owned by interface %d (%v, %v), want %s (%d), not %s (%d)", i, pod, owner, ok, err, live.Port, liveIfc.Index, old.Port, oldIfc.Index)
		}
	}
}
