package metrics

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

type fakeSource struct {
	decisions []Decision
	fail      bool
}

func (f *fakeSource) Decisions() ([]Decision, error) {
	if f.fail {
		return nil, errors.New("map gone")
	}
	return f.decisions, nil
}
func (f *fakeSource) Drops() ([]Drop, error) {
	return []Drop{{Reason: "non_canonical_path", Count: 3}}, nil
}
func (f *fakeSource) TelemetryLost() (Lost, error) { return Lost{RingFull: 7, RateLimited: 2}, nil }

// value returns the value of the sample of family name with the labels.
func value(t *testing.T, src Source, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	reg, _ := New(src)
	return gathered(t, reg, name, labels)
}

func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func TestCollectorExportsDatapathCounters(t *testing.T) {
	src := &fakeSource{decisions: []Decision{
		{Namespace: "shop", Policy: "orders", Rule: "0", Decision: DecisionAllow, Count: 5},
		{Namespace: "shop", Policy: "orders", Rule: "default", Decision: DecisionAuditDeny, Count: 2},
	}}
	if v, ok := value(t, src, "axon_policy_decisions_total", map[string]string{"rule": "default", "decision": "audit_deny"}); !ok || v != 2 {
		t.Errorf("audit_deny default = %v (found %v), want 2", v, ok)
	}
	if v, ok := value(t, src, "axon_policy_decisions_total", map[string]string{"rule": "0", "decision": "allow"}); !ok || v != 5 {
		t.Errorf("allow rule 0 = %v (found %v), want 5", v, ok)
	}
	if v, ok := value(t, src, "axon_drops_total", map[string]string{"reason": "non_canonical_path"}); !ok || v != 3 {
		t.Errorf("drops = %v (found %v), want 3", v, ok)
	}
	if v, ok := value(t, src, "axon_ringbuf_lost_events_total", nil); !ok || v != 7 {
		t.Errorf("lost = %v (found %v), want 7", v, ok)
	}
	if v, ok := value(t, src, "axon_events_rate_limited_total", nil); !ok || v != 2 {
		t.Errorf("rate limited = %v (found %v), want 2", v, ok)
	}
}

func TestCollectorCountsReadErrors(t *testing.T) {
	src := &fakeSource{fail: true}
	if _, ok := value(t, src, "axon_policy_decisions_total", nil); ok {
		t.Error("decisions exported although the read failed")
	}
	// Collectors run concurrently within one scrape: the second scrape
	// surely sees the errors of the first.
	reg, _ := New(src)
	gathered(t, reg, "axon_datapath_read_failures_total", nil)
	if v, _ := gathered(t, reg, "axon_datapath_read_failures_total", nil); v < 1 {
		t.Errorf("read errors = %v after a failed read, want at least 1", v)
	}
}
