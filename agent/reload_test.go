package agent

import (
	"net/netip"
	"testing"

	"github.com/axon-dev/axon/policy/table"
)

// Pod interfaces are recorded again at a reload only when the new table
// does not have exactly the pod addresses of the one in force (identities
// may differ).
func TestSamePodIPs(t *testing.T) {
	tab := func(addrs ...string) *table.Table {
		t := &table.Table{}
		for i, a := range addrs {
			t.PodIPs = append(t.PodIPs, table.PodIP{Addr: netip.MustParseAddr(a), Identity: uint32(i + 1)})
		}
		return t
	}
	for _, c := range []struct {
		name string
		a, b *table.Table
		want bool
	}{
		{"no table in force", nil, tab("10.0.0.1"), false},
		{"same, other order and identities", tab("10.0.0.1", "10.0.0.2"), tab("10.0.0.2", "10.0.0.1"), true},
		{"one address replaced", tab("10.0.0.1", "10.0.0.2"), tab("10.0.0.1", "10.0.0.3"), false},
		{"one added", tab("10.0.0.1"), tab("10.0.0.1", "10.0.0.2"), false},
		{"duplicates do not hide a change", tab("10.0.0.1", "10.0.0.1"), tab("10.0.0.1", "10.0.0.2"), false},
		{"both empty", tab(), tab(), true},
	} {
		if got := samePodIPs(c.a, c.b); got != c.want {
			t.Errorf("%s: samePodIPs = %v, want %v", c.name, got, c.want)
		}
	}
}
