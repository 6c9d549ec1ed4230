package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// progSet is the BPF programs whose cost a scenario reports, by name.
type progSet map[string]*ebpf.Program

func (ps progSet) close() {
	for _, p := range ps {
		p.Close()
	}
}

func (ps progSet) names() []string {
	var n []string
	for k := range ps {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// progStat is one reading of a program's bpf_stats.
type progStat struct{ ns, runs uint64 }

func (ps progSet) read() (map[string]progStat, error) {
	out := map[string]progStat{}
	for name, p := range ps {
		st, err := p.Stats()
		if err != nil {
			return nil, fmt.Errorf("reading stats of %s: %w", name, err)
		}
		out[name] = progStat{uint64(st.Runtime), st.RunCount}
	}
	return out, nil
}

// costPerRun is (run_time_ns, run_cnt) between two readings, as ns per run.
func costPerRun(before, after map[string]progStat) map[string]float64 {
	out := map[string]float64{}
	for name, a := range after {
		b := before[name]
		if runs := a.runs - b.runs; runs > 0 {
			out[name] = float64(a.ns-b.ns) / float64(runs)
		}
	}
	return out
}

// axonPrograms opens the TC programs attached from pinDir (TCX links or
// clsact filter programs), named by program and pin: axon_egress and
// axon_reply on the server's bridge port.
func axonPrograms(pinDir string) (progSet, error) {
	ps := progSet{}
	links, _ := filepath.Glob(filepath.Join(pinDir, "links", "*"))
	for _, p := range links {
		l, err := link.LoadPinnedLink(p, nil)
		if err != nil {
			return nil, fmt.Errorf("opening pinned link %s: %w", p, err)
		}
		info, err := l.Info()
		l.Close()
		if err != nil {
			return nil, fmt.Errorf("link info %s: %w", p, err)
		}
		prog, err := ebpf.NewProgramFromID(info.Program)
		if err != nil {
			return nil, fmt.Errorf("opening program of %s: %w", p, err)
		}
		if err := ps.add(prog); err != nil {
			return nil, err
		}
	}
	progs, _ := filepath.Glob(filepath.Join(pinDir, "progs", "*"))
	for _, p := range progs {
		prog, err := ebpf.LoadPinnedProgram(p, nil)
		if err != nil {
			return nil, fmt.Errorf("opening pinned program %s: %w", p, err)
		}
		if err := ps.add(prog); err != nil {
			return nil, err
		}
	}
	if len(ps) == 0 {
		return nil, errors.New("no program attached from " + pinDir)
	}
	return ps, nil
}

func (ps progSet) add(p *ebpf.Program) error {
	info, err := p.Info()
	if err != nil {
		p.Close()
		return fmt.Errorf("program info: %w", err)
	}
	name := info.Name
	if _, dup := ps[name]; dup {
		p.Close()
		return nil
	}
	ps[name] = p
	return nil
}

// programIDs lists the IDs of every BPF program loaded now.
func programIDs() map[ebpf.ProgramID]bool {
	ids := map[ebpf.ProgramID]bool{}
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return ids
		}
		ids[next] = true
		id = next
	}
}

// newPrograms opens the programs called one of names loaded since before
// was listed: the observer's, which are not pinned. Another process
// loading programs of the same names meanwhile would be counted too.
// observerPrograms are the socket observer's programs (agent/observe): the
// socket hooks' or the syscall hook's, and the connection end.
var observerPrograms = []string{"axs_sock_recv", "axs_sock_send", "axs_sys_exit", "axs_sock_state"}

func newPrograms(before map[ebpf.ProgramID]bool, names ...string) (progSet, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	ps := progSet{}
	for id := range programIDs() {
		if before[id] {
			continue
		}
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // gone meanwhile
		}
		info, err := p.Info()
		if err != nil || !want[info.Name] {
			p.Close()
			continue
		}
		if err := ps.add(p); err != nil {
			return nil, err
		}
	}
	return ps, nil
}

// enableStats turns bpf_stats on for as long as the returned closer is open.
func enableStats() (func(), error) {
	c, err := ebpf.EnableStats(uint32(statsRunTime))
	if err != nil {
		return nil, fmt.Errorf("enabling bpf_stats: %w", err)
	}
	return func() { c.Close() }, nil
}

// statsRunTime is BPF_STATS_RUN_TIME.
const statsRunTime = 0
