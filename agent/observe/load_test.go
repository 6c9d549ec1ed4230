package observe

import (
	"testing"

	"github.com/axon-dev/axon/test/netns"
)

// TestLoadAndAttach loads the observer (the verifier accepts every program
// on this kernel) and attaches it to all its tracepoints.
func TestLoadAndAttach(t *testing.T) {
	netns.RequireRoot(t)
	p, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Attach(); err != nil {
		t.Fatal(err)
	}
	if !p.Attached() {
		t.Fatal("not attached")
	}
}
