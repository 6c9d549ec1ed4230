package datapath

import (
	"strings"
	"testing"

	"github.com/axon-dev/axon/test/netns"
)

// TestClientSides: WithClientSides loads the named client-to-server program
// and leaves the other out (the agent's choice: Egress and Reply), and a
// choice of neither is refused before anything is loaded.
func TestClientSides(t *testing.T) {
	netns.RequireRoot(t)
	d, err := Open(WithClientSides(EgressSide))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.Egress() == nil || d.Reply() == nil {
		t.Fatalf("egress %v, reply %v: want both loaded", d.Egress(), d.Reply())
	}
	if d.Ingress() != nil {
		t.Fatalf("ingress %v loaded, want none", d.Ingress())
	}
	if _, err := Open(WithClientSides(0)); err == nil || !strings.Contains(err.Error(), "no client-to-server program") {
		t.Fatalf("no side: %v, want refused", err)
	}
}
