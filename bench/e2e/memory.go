package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/axon-dev/axon/bench/scaleset"
	"github.com/cilium/ebpf"
)

// memSet is one folder of the memory part and the map sizes the agent runs
// with for it (its --max-* flags; none: the defaults).
type memSet struct {
	scaleset.Set
	flags []string
}

// memSets: the control-plane folder's 1,000 policies over 440 pods (about
// 10,000 path rows, issue 15's small case) with the default map sizes, and
// about 1,000,000 path rows (2,500 policies over 5,000 pods:
// 866,375 compiled, 1.2 million once MethodAny's rows are merged in;
// 1,983,720 source classes) with the paths and classes maps raised to hold
// them (twice over: the table in force and the next one), and the time a
// compilation of that size may need on a loaded machine.
var memSets = []memSet{
	{scaleset.Set{Pods: 440, Policies: 1000}, nil},
	{scaleset.Set{Pods: 5000, Policies: 2500}, []string{"--max-path-rows=1500000", "--max-source-classes=2500000", "--compile-timeout=10m"}},
}

// memResult is the agent's peak RSS and the decision maps' kernel memory
// with one folder.
type memResult struct {
	memSet
	rows, classes float64       // of the table applied (axon_policy_table_rows)
	kernelRows    int           // entries of the paths map: rows after MethodAny's are merged in
	ready         time.Duration // agent start to the table applied (or refused)
	hwm           int64         // agent VmHWM
	kernel        int64         // memlock of the pinned decision maps
	kernelPaths   int64         // of which the paths map
	slab          int64         // growth of the kernel's unreclaimable slab, agent start to applied
	err           string
}

// decisionMaps are the maps holding the table (bpf/include/policy_maps.h).
var decisionMaps = []string{"config", "policed_ports", "endpoints", "pod_ips", "cidrs", "classes", "methods", "paths", "globs"}

// memory starts the agent on each memSet's folder and reads its VmHWM and
// the kernel memory of the decision maps once the table is applied (or
// refused).
func memory(c config, res *results) error {
	sets := memSets
	if c.quick {
		sets = sets[:1]
	}
	for i, set := range sets {
		m, err := memoryOne(c, set, i)
		if err != nil {
			return err
		}
		res.mem = append(res.mem, m)
		logf("memory: %d pods, %d policies %s: %.0f path rows (%d in the map), %.0f classes, ready in %v, VmHWM %d MiB, decision maps %d MiB (memlock), slab +%d MiB %s",
			set.Pods, set.Policies, strings.Join(set.flags, " "), m.rows, m.kernelRows, m.classes, m.ready.Round(time.Second), m.hwm>>20, m.kernel>>20, m.slab>>20, m.err)
	}
	return nil
}

func memoryOne(c config, set memSet, i int) (m memResult, err error) {
	m = memResult{memSet: set}
	dir := filepath.Join(c.work, fmt.Sprintf("mem-policies-%d", i))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return m, err
	}
	if err := writeFiles(dir, set.Files(nil, 0)); err != nil {
		return m, err
	}
	_ = cleanupPins(c.agentBin, c.pinDir)
	slab0 := meminfo("SUnreclaim")
	start := time.Now()
	a, err := launchAgent(c.agentBin, c.work, c.pinDir, dir, false, fmt.Sprintf("agent-mem%d.log", i), set.flags...)
	if err != nil {
		return m, err
	}
	defer func() {
		if cerr := a.stopAndCleanup(); err == nil {
			err = cerr
		}
	}()
	// Ready (the table is in the maps), or the table refused: either way
	// the compile and the write were attempted.
	deadline := time.Now().Add(12 * time.Minute)
	for {
		if code, _, err := a.get("/readyz"); err == nil && code == 200 {
			break
		}
		if e, _ := a.metric("axon_policy_load_errors_total"); e > 0 {
			m.err = "refused: " + a.lastError()
			break
		}
		if !a.alive() || time.Now().After(deadline) {
			m.err = "agent not ready: " + a.lastError()
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	m.ready = time.Since(start)
	m.slab = meminfo("SUnreclaim") - slab0
	m.rows, _ = a.metric("axon_policy_table_rows", `kind="path_rows"`)
	m.classes, _ = a.metric("axon_policy_table_rows", `kind="source_classes"`)
	m.kernel, m.kernelPaths, err = mapsMemlock(c.pinDir)
	if err != nil {
		return m, err
	}
	if m.kernelRows, err = countEntries(filepath.Join(c.pinDir, "paths")); err != nil {
		return m, err
	}
	m.hwm, err = a.vmHWM()
	return m, err
}

// mapsMemlock is the kernel's account (memlock in fdinfo) of the pinned
// decision maps, all of them and the paths map alone.
func mapsMemlock(pinDir string) (all, paths int64, err error) {
	for _, name := range decisionMaps {
		m, err := ebpf.LoadPinnedMap(filepath.Join(pinDir, name), nil)
		if err != nil {
			return 0, 0, fmt.Errorf("opening pinned map %s: %w", name, err)
		}
		info, err := m.Info()
		m.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("map %s info: %w", name, err)
		}
		n, _ := info.Memlock()
		all += int64(n)
		if name == "paths" {
			paths = int64(n)
		}
	}
	return all, paths, nil
}

// meminfo is a /proc/meminfo figure in bytes (0 if unknown).
func meminfo(key string) int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, key+":"); ok {
			var kb int64
			fmt.Sscan(rest, &kb)
			return kb << 10
		}
	}
	return 0
}

// countEntries counts the entries of a pinned map.
func countEntries(path string) (int, error) {
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return 0, fmt.Errorf("opening pinned map: %w", err)
	}
	defer m.Close()
	n := 0
	var k, v []byte
	it := m.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	return n, it.Err()
}

func (r *results) memoryMarkdown(b *strings.Builder) {
	b.WriteString("\n### Agent memory (VmHWM) and the decision maps' kernel memory\n\n" +
		"The agent started on a folder shaped like the control-plane one; VmHWM once the table is applied. " +
		"Kernel memory is the kernel's own account of the pinned decision maps (memlock in fdinfo): " +
		"entries in use at their element size, plus the hash maps' bucket arrays, allocated for their whole size; " +
		"it leaves out the LPM trie's intermediate nodes and the allocator's rounding, so the growth of the kernel's " +
		"unreclaimable slab (SUnreclaim in /proc/meminfo, from the agent's start to the table applied; anything else " +
		"running on the machine counts too) is also given. " +
		"Path rows: the compiled table's, and the paths map's entries (MethodAny's rows merged into each method's, policy_maps.h rule 6).\n\n" +
		"| folder | agent flags | path rows (table / map) | source classes | agent start to applied | VmHWM | decision maps (memlock) | of which paths | kernel slab growth | outcome |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, m := range r.mem {
		out := "applied"
		if m.err != "" {
			out = m.err
		}
		flags := strings.Join(m.flags, " ")
		if flags == "" {
			flags = "(default sizes)"
		}
		fmt.Fprintf(b, "| %d policies x 10 rules, %d pods | `%s` | %.0f / %d | %.0f | %v | %d MiB | %d MiB | %d MiB | %d MiB | %s |\n",
			m.Policies, m.Pods, flags, m.rows, m.kernelRows, m.classes, m.ready.Round(time.Second), m.hwm>>20, m.kernel>>20, m.kernelPaths>>20, m.slab>>20,
			strings.ReplaceAll(out, "|", "/"))
	}
}
