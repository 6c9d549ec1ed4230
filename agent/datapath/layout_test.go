package datapath

import (
	"testing"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/test/btflayout"
	"github.com/cilium/ebpf/btf"
)

// TestLayoutsMatchBTF compares every Go struct this package writes to or
// reads from the maps with the C struct in the compiled object's BTF: size
// and the offset of every member. Stale bindings or hand edits fail here.
func TestLayoutsMatchBTF(t *testing.T) {
	spec, err := bpf.LoadAxon()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]any{
		"ax_config":       bpf.AxonAxConfig{},
		"ax_endpoint_key": bpf.AxonAxEndpointKey{},
		"ax_endpoint":     bpf.AxonAxEndpoint{},
		"ax_addr_key":     bpf.AxonAxAddrKey{},
		"ax_cidr_key":     bpf.AxonAxCidrKey{},
		"ax_class_key":    bpf.AxonAxClassKey{},
		"ax_method_key":   bpf.AxonAxMethodKey{},
		"ax_path_key":     bpf.AxonAxPathKey{},
		"ax_match":        bpf.AxonAxMatch{},
		"ax_path_val":     bpf.AxonAxPathVal{},
		"ax_glob_key":     bpf.AxonAxGlobKey{},
		"ax_glob":         bpf.AxonAxGlob{},
		"ax_mask128":      bpf.AxonAxMask128{},
		"ax_flow_key":     bpf.AxonAxFlowKey{},
		"ax_flow":         bpf.AxonAxFlow{},
		"ax_iface":        bpf.AxonAxIface{},
		"ax_event":        bpf.AxonAxEvent{},
		"ax_denial_key":   bpf.AxonAxDenialKey{},
	}
	btflayout.Check(t, spec.Types, cases)
}

// TestBoundsMatchObject checks the Go copies of the datapath's bounds
// against the object: array lengths and map sizes.
func TestBoundsMatchObject(t *testing.T) {
	spec, err := bpf.LoadAxon()
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		what      string
		got, want int
	}{
		{"method name bytes", len(bpf.AxonAxMethodKey{}.Name), maxMethodLen},
		{"glob candidates per row", len(bpf.AxonAxPathVal{}.Globs), maxRowGlobs},
		{"path key bytes", len(bpf.AxonAxPathKey{}.Path), compiler.MaxPathKey},
		{"glob classes", len(bpf.AxonAxGlob{}.Consume), maxGlobClasses},
		{"rule counters", int(spec.Maps[bpf.AxonMapRuleStats].MaxEntries), MaxRules * 4},
		{"reason counters", int(spec.Maps[bpf.AxonMapReasonStats].MaxEntries), reasonSlots},
		{"denial overflow counters", int(spec.Maps[bpf.AxonMapDenialOverflow].MaxEntries), MaxRules * 4},
		{"denial tuples", int(spec.Maps[bpf.AxonMapDenials].MaxEntries), MaxDenials},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: object %d, Go %d", c.what, c.got, c.want)
		}
	}
	var f *btf.Struct
	if err := spec.Types.TypeByName("ax_flow", &f); err != nil {
		t.Fatal(err)
	}
	for _, m := range f.Members {
		if m.Name == "path" {
			if a, ok := m.Type.(*btf.Array); !ok || int(a.Nelems) != MaxGlobPath {
				t.Errorf("ax_flow.path: %v, want %d bytes", m.Type, MaxGlobPath)
			}
		}
	}
}
