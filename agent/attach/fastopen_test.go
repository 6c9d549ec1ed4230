package attach

import (
	"testing"

	"github.com/axon-dev/axon/test/netns"
	vnetns "github.com/vishvananda/netns"
)

// TestFastOpenServerFollowsNamespace: the server fast-open setting is read
// in the pod's own namespace (not the agent's), and again when the pod
// changes it; FastOpenServers finds the namespace by its id once
// LocalVethPeers has seen its veth.
func TestFastOpenServerFollowsNamespace(t *testing.T) {
	needRoot(t)
	pod := netns.New(t, "10.70.1.0/24").AddHost("pod", "10.70.1.10")
	set := func(v string) {
		t.Helper()
		if err := pod.Sysctl("net.ipv4.tcp_fastopen", v); err != nil {
			t.Fatal(err)
		}
	}
	h, err := vnetns.GetFromName(pod.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	id := peerNetnsid(t, pod)
	for _, c := range []struct {
		value string
		want  bool
	}{{"1", false}, {"0x403", true}, {"0x401", false}, {"3", true}} {
		set(c.value)
		if got := fastOpenServer(h); got != c.want {
			t.Errorf("tcp_fastopen=%s: fastOpenServer %v, want %v", c.value, got, c.want)
		}
		if got, ok := FastOpenServers([]int32{id})[id]; !ok || got != c.want {
			t.Errorf("tcp_fastopen=%s: FastOpenServers %v (found %v), want %v", c.value, got, ok, c.want)
		}
	}
}
