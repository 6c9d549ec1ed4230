package datapath

import (
	"fmt"
	"testing"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
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
		"ax_trie_key":     bpf.AxonAxTrieKey{},
		"ax_path_lens":    bpf.AxonAxPathLens{},
		"ax_path_hkey":    bpf.AxonAxPathHkey{},
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
		{"path key bytes", len(bpf.AxonAxPathKey{}.Path), table.MaxPathKey},
		{"glob classes", len(bpf.AxonAxGlob{}.Consume), maxGlobClasses},
		{"rule counters", int(spec.Maps[bpf.AxonMapRuleStats].MaxEntries), int(MaxRules) * 4},
		{"policed-port bitmap", int(spec.Maps[bpf.AxonMapPolicedPorts].MaxEntries), 2 * int(portWords)},
		{"glob tokens (128-bit masks)", 128 - 1, maxGlobTokens},
		{"reason counters", int(spec.Maps[bpf.AxonMapReasonStats].MaxEntries), reasonSlots},
		{"denial overflow counters", int(spec.Maps[bpf.AxonMapDenialOverflow].MaxEntries), int(MaxRules) * 4},
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

// TestEnumsMatchObject compares every member of the C enums the Go code
// names its constants after (bpf/include/axon_shared.h) with the value of
// its Go name, reading the enums from the BTF of the datapath's own object:
// a C value changed without regenerating bpf/shared, a hand edit of the
// generated constants, or a C member without a Go name fails here.
func TestEnumsMatchObject(t *testing.T) {
	spec, err := bpf.LoadAxon()
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]uint64{}
	for r := Reason(0); int(r) < numReasons; r++ {
		if r.String() == fmt.Sprintf("reason_%d", r) {
			t.Errorf("reason %d has no name", r)
		}
	}
	for name, r := range map[string]Reason{
		"POLICY": ReasonPolicy, "NOT_HTTP": ReasonNotHTTP, "MALFORMED": ReasonMalformed,
		"NON_CANONICAL": ReasonNonCanonical, "OUT_OF_ORDER": ReasonOutOfOrder, "FLOW_RESET": ReasonFlowReset,
		"EVENT_LIMITED": ReasonEventLimited, "GLOB_UNDECIDED": ReasonGlobUndecided, "RESET_FAILED": ReasonResetFailed,
		"FRAGMENT": ReasonFragment, "EVENT_LOST": ReasonEventLost, "UNVERIFIED": ReasonUnverified,
		"UPGRADE": ReasonUpgrade, "URGENT": ReasonUrgent, "SYN_DATA": ReasonSYNData, "NO_ACK": ReasonNoACK,
		"NO_FLOW": ReasonNoFlow, "VLAN": ReasonVLAN, "IP_HEADER": ReasonIPHeader,
		"FLOW_TABLE_FULL": ReasonFlowTableFull, "UPGRADE_PENDING": ReasonUpgradePend,
		"CONCURRENT": ReasonConcurrent, "MPTCP": ReasonMPTCP, "DESYNC": ReasonDesync, "SPOOFED": ReasonSpoofed,
		"SERVER_UNVERIFIED": ReasonServerUnverif, "SERVER_CONN": ReasonServerConn,
	} {
		reasons["AX_REASON_"+name] = uint64(r)
	}
	reasons["AX_REASON_MAX"] = uint64(numReasons)
	enums := map[string]map[string]uint64{
		"ax_verdict": {
			"AX_VERDICT_NONE":  0,
			"AX_VERDICT_ALLOW": uint64(VerdictAllow), "AX_VERDICT_DENY": uint64(VerdictDeny),
			"AX_VERDICT_AUDIT_DENY": uint64(VerdictAuditDeny),
		},
		"ax_reason": reasons,
		"ax_mode":   {"AX_MODE_ENFORCE": uint64(table.ModeEnforce), "AX_MODE_AUDIT": uint64(table.ModeAudit)},
		"ax_glob_result": {
			"AX_GLOB_NO": uint64(table.GlobNo), "AX_GLOB_YES": uint64(table.GlobYes),
			"AX_GLOB_UNDECIDED": uint64(table.GlobUndecided),
		},
		"ax_wire": {
			"AX_EP_ENFORCE": uint64(epEnforce), "AX_EP_POLICED": uint64(epPoliced), "AX_PORT_ANY": uint64(portAny),
			"AX_EVENT_DECISION": uint64(eventDecision), "AX_CIDR_KEY_FIXED_BITS": uint64(cidrFixedBits),
			"AX_PATH_KEY_FIXED_BITS": uint64(pathFixedBits), "AX_IPV4_MAPPED_BITS": uint64(ipv4MappedBits),
		},
		"ax_bound": {
			"AX_BOUND_PORT_WORDS": uint64(portWords), "AX_BOUND_MAX_RULES": uint64(MaxRules),
			"AX_BOUND_REASON_STATS": uint64(reasonSlots), "AX_BOUND_METHOD_MAX": uint64(table.MaxMethodLen),
			"AX_BOUND_METHOD_LIMIT": uint64(table.MaxMethod), "AX_BOUND_PATH_KEY": uint64(table.MaxPathKey),
			"AX_BOUND_PATH_BUF": uint64(table.MaxGlobPath), "AX_BOUND_PATH_LIMIT": uint64(table.MaxPath),
			"AX_BOUND_ROW_GLOBS": uint64(maxRowGlobs), "AX_BOUND_GLOB_CLASSES": uint64(maxGlobClasses),
			"AX_BOUND_GLOB_TOKENS": uint64(maxGlobTokens), "AX_BOUND_PATH_HKEY": uint64(hashPathKey),
			"AX_BOUND_PATH_LENS": uint64(maxTrieLens),
		},
	}
	// The actions and verdicts of the table are the datapath's verdicts.
	if uint64(table.ActionAllow) != uint64(VerdictAllow) || uint64(table.ActionDeny) != uint64(VerdictDeny) {
		t.Errorf("table actions %d/%d, datapath verdicts %d/%d", table.ActionAllow, table.ActionDeny, VerdictAllow, VerdictDeny)
	}
	btflayout.CheckEnums(t, spec.Types, enums)
}
