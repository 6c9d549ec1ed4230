package datapath

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
	"github.com/axon-dev/axon/test/netns"
	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// rowsTable has n path rows on one endpoint.
func rowsTable(n int) *table.Table {
	tab := &table.Table{Endpoints: []table.Endpoint{{ID: 1, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}}}
	for i := range n {
		tab.Paths = append(tab.Paths, table.PathRow{Endpoint: 1, Method: table.MethodAny, Prefix: fmt.Sprintf("/p%d", i)})
	}
	return tab
}

// A table over the limits is refused naming the flag that raises them; the
// same table fits once the limit is raised, for Limits.Fit and for the
// process's Fit (SetLimits, what the flags set).
func TestFitUsesLimitsAndNamesTheFlag(t *testing.T) {
	def, err := DefaultLimits()
	if err != nil {
		t.Fatal(err)
	}
	tab := rowsTable(100)
	small := def.with(Limits{bpf.AxonMapPaths: 99})
	err = small.Fit(tab)
	if !errors.Is(err, ErrTableTooLarge) {
		t.Fatalf("100 rows, limit 99: %v, want ErrTableTooLarge", err)
	}
	for _, want := range []string{"100 path rows", "at most 99", "map paths holds 198", "--max-path-rows"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := def.with(Limits{bpf.AxonMapPaths: 100}).Fit(tab); err != nil {
		t.Fatalf("100 rows, limit 100: %v", err)
	}

	t.Cleanup(func() { SetLimits(nil) })
	if err := SetLimits(Limits{bpf.AxonMapPaths: 99}); err != nil {
		t.Fatal(err)
	}
	if err := Fit(tab); !errors.Is(err, ErrTableTooLarge) {
		t.Fatalf("Fit after SetLimits(99 rows): %v, want ErrTableTooLarge", err)
	}
	lim, _ := TableLimits()
	if lim[bpf.AxonMapPaths] != 99 || lim[bpf.AxonMapClasses] != def[bpf.AxonMapClasses] {
		t.Fatalf("TableLimits after SetLimits: %v, want 99 path rows and the default classes", lim)
	}
	if err := SetLimits(nil); err != nil {
		t.Fatal(err)
	}
	if err := Fit(tab); err != nil {
		t.Fatalf("Fit with the defaults: %v", err)
	}
}

func TestLimitFlags(t *testing.T) {
	def, err := DefaultLimits()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want Limits
		err  string
	}{
		{nil, nil, ""},
		{[]string{"--max-path-rows", "1048576"}, Limits{bpf.AxonMapPaths: 1 << 20}, ""},
		{[]string{"--max-path-rows=2000000", "--max-source-classes=1500000", "--max-pod-ips=70000"},
			Limits{bpf.AxonMapPaths: 2000000, bpf.AxonMapClasses: 1500000, bpf.AxonMapPodIps: 70000}, ""},
		{[]string{"--max-path-rows", "0"}, nil, "--max-path-rows 0: want 1 to"},
		{[]string{"--max-source-classes", fmt.Sprint(MaxLimit + 1)}, nil, "--max-source-classes"},
		{[]string{"--max-pod-ips", fmt.Sprint(MaxHashLimit + 1)}, nil, "--max-pod-ips 67108865: want 1 to 67108864"},
		// path_hash, a hash map, is sized as paths.
		{[]string{"--max-path-rows", fmt.Sprint(MaxHashLimit + 1)}, nil, "--max-path-rows 67108865: want 1 to 67108864"},
	} {
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		get := RegisterLimitFlags(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if f := fs.Lookup("max-path-rows"); f.DefValue != fmt.Sprint(def[bpf.AxonMapPaths]) {
			t.Errorf("--max-path-rows defaults to %s, want the object's %d", f.DefValue, def[bpf.AxonMapPaths])
		}
		got, err := get()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: %v, want an error with %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%v: %v, %v; want %v", c.args, got, err, c.want)
		}
	}
	if err := SetLimits(Limits{bpf.AxonMapPolicedPorts: 5}); err == nil {
		t.Error("SetLimits accepted a limit for the fixed policed_ports map")
	}
}

// TestLimitBoundsFollowMapTypes: the maps given the hash-map bound are the
// object's hash maps, the others LPM tries, and a hash map of one entry
// more than twice the hash bound is refused by the kernel: a higher bound
// would only let through sizes that cannot load. (That twice the bound
// loads would take a 2 GiB bucket array to show.)
func TestLimitBoundsFollowMapTypes(t *testing.T) {
	spec, err := bpf.LoadAxon()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range LimitFlags {
		typ := spec.Maps[f.Map].Type
		if hashMaps[f.Map] != (typ == ebpf.Hash) || !hashMaps[f.Map] && typ != ebpf.LPMTrie {
			t.Errorf("map %s is %v but its bound is %d", f.Map, typ, maxLimitOf(f.Map))
		}
	}
	for f, leader := range sizedAs {
		if typ := spec.Maps[f].Type; hashMaps[f] != (typ == ebpf.Hash) {
			t.Errorf("map %s is %v, hashMaps says %v", f, typ, hashMaps[f])
		}
		if hashMaps[f] && maxLimitOf(leader) != MaxHashLimit {
			t.Errorf("map %s, a hash map, takes the limit of %s, whose bound is %d", f, leader, maxLimitOf(leader))
		}
	}
	netns.RequireRoot(t)
	mk := func(n uint32) error {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Hash, KeySize: 8, ValueSize: 8, MaxEntries: n, Flags: unix.BPF_F_NO_PREALLOC})
		if err == nil {
			m.Close()
		}
		return err
	}
	if err := mk(2*MaxHashLimit + 1); err == nil {
		t.Errorf("the kernel took a hash map of 2*MaxHashLimit+1 entries: the bound is too low")
	}
}
