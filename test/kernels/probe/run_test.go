package probe

import (
	"testing"

	"github.com/cilium/ebpf"
)

// TestRunVerdicts runs the probe through BPF_PROG_TEST_RUN: the verdict depends on the
// packet bytes and the counters move by exactly one per run.
func TestRunVerdicts(t *testing.T) {
	needRoot(t)
	p := loadProbe(t)
	cases := []struct {
		name  string
		frame []byte
		want  uint32
		slot  uint32
	}{
		{"drop marker", udpFrame([]byte("DROP me")), actShot, slotDrop},
		{"other payload", udpFrame([]byte("GET / HTTP/1.1")), actOK, slotPass},
		{"headers only, no payload byte", udpFrame(nil), actOK, slotPass},
		{"short ARP frame", arpFrame(), actOK, slotPass},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, err := p.Count(tc.slot)
			if err != nil {
				t.Fatal(err)
			}
			ret, err := p.Prog.Run(&ebpf.RunOptions{Data: tc.frame})
			if err != nil {
				t.Fatalf("running probe: %v", err)
			}
			if ret != tc.want {
				t.Errorf("verdict = %d, want %d", ret, tc.want)
			}
			after, err := p.Count(tc.slot)
			if err != nil {
				t.Fatal(err)
			}
			if after != before+1 {
				t.Errorf("counter %d went from %d to %d, want +1", tc.slot, before, after)
			}
		})
	}
}
