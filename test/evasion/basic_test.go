package evasion

import "testing"

// The harness itself: through the agent, an allowed request reaches both
// servers and a denied one is reset and never logged.
func TestHarnessAllowDeny(t *testing.T) {
	t.Parallel()
	tp := newTopo(t, 1)
	tp.policy("Enforce", "")
	srvs := tp.servers("go", "nginx")
	tp.startAgent()
	for _, s := range srvs {
		t.Run(s.Name(), func(t *testing.T) {
			allow, deny := token("/api/v1/ok"), token("/api/admin/x")
			if got := curl(t, tp.cli, "http://"+tp.srvAddr(s.Port())+deny); got != "reset" {
				t.Errorf("denied request: got %s, want reset", got)
			}
			if got := curl(t, tp.cli, "http://"+tp.srvAddr(s.Port())+allow); got != "200" {
				t.Errorf("allowed request: got %s, want 200", got)
			}
			expectArrived(t, s, allow, "the allowed request")
			expectNever(t, s, deny, "the denied request")
		})
	}
}
