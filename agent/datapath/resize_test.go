package datapath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
	"github.com/axon-dev/axon/test/netns"
	"github.com/cilium/ebpf"
)

// pathTable allows GET on each exact path and denies the rest (rule 2).
func pathTable(paths ...string) *table.Table {
	t := oneRuleTable()
	t.Paths = nil
	for _, p := range paths {
		t.Paths = append(t.Paths, table.PathRow{Endpoint: 1, Method: 1, Prefix: p + "\x00", Enforce: table.Match{Allow: 1}})
	}
	return t
}

func pinTestDir(t *testing.T) string {
	t.Helper()
	netns.RequireRoot(t)
	dir, err := os.MkdirTemp("/sys/fs/bpf", "axon-test-")
	if err != nil {
		t.Skipf("cannot create a directory on bpffs: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func pinnedMap(t *testing.T, dir, name string) (entries uint32, id ebpf.MapID) {
	t.Helper()
	m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	info, err := m.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ = info.ID()
	return m.MaxEntries(), id
}

// expect sends GET path on a new flow of prog and checks the outcome.
func expect(t *testing.T, who string, prog *ebpf.Program, path string, want outcome) {
	t.Helper()
	f := newFlow(t, prog, client, server)
	if o := f.send("GET " + path + " HTTP/1.1\r\n\r\n"); o != want {
		t.Errorf("%s: GET %s: %v, want %v", who, path, o, want)
	}
}

// An agent restarted with other map sizes replaces the pinned decision
// maps: the new maps have the new sizes and hold the table in force; the
// programs of the earlier agent keep deciding by that table (never by the
// older table in its other generation, never by nothing) until they are
// replaced; a table in force too large for the new sizes fails Open and
// leaves the pins as they were; the same sizes reuse the pinned maps.
func TestPinnedMapsResized(t *testing.T) {
	dir := pinTestDir(t)
	small := Limits{bpf.AxonMapPaths: 64}
	d1, err := Open(WithPinDir(dir), WithoutClientReset(), testSides, WithLimits(small))
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	registerReply(d1)
	// The earlier agent's generations: the older table (allows /stale)
	// and the table in force (allows /ok).
	if err := d1.Apply(pathTable("/stale")); err != nil {
		t.Fatal(err)
	}
	if err := d1.Apply(pathTable("/ok")); err != nil {
		t.Fatal(err)
	}
	if n, _ := pinnedMap(t, dir, bpf.AxonMapPaths); n != 128 {
		t.Fatalf("paths map pinned with %d entries, want 128", n)
	}
	_, flowsID := pinnedMap(t, dir, bpf.AxonMapFlows)

	big := Limits{bpf.AxonMapPaths: 4096}
	d2, err := Open(WithPinDir(dir), WithoutClientReset(), testSides, WithLimits(big))
	if err != nil {
		t.Fatalf("reopening with another size: %v", err)
	}
	defer d2.Close()
	registerReply(d2)
	if n, _ := pinnedMap(t, dir, bpf.AxonMapPaths); n != 8192 {
		t.Fatalf("after the resize the paths map pinned has %d entries, want 8192", n)
	}
	if got := d2.Limits()[bpf.AxonMapPaths]; got != 4096 {
		t.Fatalf("Limits: %d path rows, want 4096", got)
	}
	if _, id := pinnedMap(t, dir, bpf.AxonMapFlows); id != flowsID {
		t.Error("the flows map was replaced: connections would lose their state")
	}
	if !d2.OpenedPolicing() {
		t.Fatal("the resized maps do not hold the table in force")
	}
	expect(t, "new programs on the copied table", d2.Ingress(), "/ok", passed)
	expect(t, "new programs on the copied table", d2.Ingress(), "/stale", reset)
	expect(t, "new programs on the copied table", d2.Ingress(), "/other", reset)

	// The new agent applies tables: three flips, so that both of its
	// generations are written and the other one is active.
	for _, tab := range []*table.Table{pathTable("/mid"), pathTable("/mid2"), pathTable("/new", "/new2")} {
		if err := d2.Apply(tab); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, "new programs", d2.Ingress(), "/new", passed)
	expect(t, "new programs", d2.Ingress(), "/ok", reset)
	expect(t, "earlier agent's programs", d1.Ingress(), "/ok", passed)
	for _, p := range []string{"/stale", "/mid", "/mid2", "/new", "/other"} {
		expect(t, "earlier agent's programs", d1.Ingress(), p, reset)
	}

	// Shrinking below the table in force (3 merged rows): refused, nothing
	// replaced, the pinned table still enforced.
	_, pathsID := pinnedMap(t, dir, bpf.AxonMapPaths)
	_, err = Open(WithPinDir(dir), WithoutClientReset(), testSides, WithLimits(Limits{bpf.AxonMapPaths: 1}))
	if err == nil || !strings.Contains(err.Error(), "--max-path-rows") {
		t.Fatalf("shrinking the paths map below the table in force: %v, want an error naming --max-path-rows", err)
	}
	if n, id := pinnedMap(t, dir, bpf.AxonMapPaths); n != 8192 || id != pathsID {
		t.Fatalf("a failed resize replaced the pinned paths map (%d entries)", n)
	}
	expect(t, "after a refused resize", d2.Ingress(), "/new2", passed)

	// The same sizes: the pinned maps are reused, not copied.
	d3, err := Open(WithPinDir(dir), WithoutClientReset(), testSides, WithLimits(big))
	if err != nil {
		t.Fatal(err)
	}
	defer d3.Close()
	if _, id := pinnedMap(t, dir, bpf.AxonMapPaths); id != pathsID {
		t.Error("maps of the requested size were replaced instead of reused")
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*_resizing")); len(m) > 0 {
		t.Errorf("temporary pins left: %v", m)
	}
}

// Pinned maps of another layout (not only another size) are still refused
// with the loader's error.
func TestPinnedMapsOtherLayoutRefused(t *testing.T) {
	dir := pinTestDir(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Name: bpf.AxonMapPaths, Type: ebpf.Hash, KeySize: 4, ValueSize: 4, MaxEntries: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Pin(filepath.Join(dir, bpf.AxonMapPaths)); err != nil {
		t.Fatal(err)
	}
	_, err = Open(WithPinDir(dir), WithoutClientReset(), testSides)
	if !errors.Is(err, ebpf.ErrMapIncompatible) {
		t.Fatalf("a pinned paths map of another layout: %v, want ErrMapIncompatible", err)
	}
}
