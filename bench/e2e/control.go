package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/axon-dev/axon/bench/scaleset"
)

// cpResult is the control plane's delay for one change size.
type cpResult struct {
	changed int
	delays  []time.Duration // last file written -> active generation flipped
	writes  []time.Duration // time to write the changed files
	err     string
}

// controlPlane measures, on a folder of 1,000 policies x 10 rules, the time
// from writing 1, 100 or 1,000 changed policy files to the flip of the
// active generation in the pinned config map: what the kernel decides by.
func controlPlane(c config, res *results) (err error) {
	set := scaleset.Set{Pods: c.cpPods, Policies: 1000}
	dir := filepath.Join(c.work, "cp-policies")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := writeVersion(dir, set.Files(nil, 0), 0); err != nil {
		return err
	}
	_ = cleanupPins(c.agentBin, c.pinDir)
	a, err := startAgent(c.agentBin, c.work, c.pinDir, dir, false, "agent-cp.log")
	if err != nil {
		return fmt.Errorf("control plane: %w", err)
	}
	defer func() {
		if cerr := a.stopAndCleanup(); err == nil {
			err = cerr
		}
	}()
	res.cpRows, _ = a.metric("axon_policy_table_rows", `kind="path_rows"`)
	res.cpPods = set.Pods
	read, closeMap, err := activeGen(c.pinDir)
	if err != nil {
		return err
	}
	defer closeMap()
	tag := 0
	for _, n := range []int{1, 100, 1000} {
		r := cpResult{changed: n}
		for rep := 0; rep < c.cpRounds; rep++ {
			tag++
			changed := map[int]bool{}
			for i := 0; i < n; i++ {
				changed[i*1000/n] = true // spread over the folder
			}
			w0 := time.Now()
			swap, err := writeVersion(dir, set.Files(changed, tag), tag)
			if err != nil {
				return err
			}
			w := time.Since(w0)
			// The agent must be idle: no flip for a second, so the flip
			// measured is this change's.
			g0, err := settle(read, time.Second, 60*time.Second)
			if err != nil {
				return err
			}
			errs0, _ := a.metric("axon_policy_load_errors_total")
			// Timed from the rename of ..data; the kubelet's tail of the
			// update (visible links, removing the old version) runs
			// meanwhile, as it does in a cluster.
			finish, err := swap()
			if err != nil {
				return err
			}
			tail := make(chan error, 1)
			go func() { tail <- finish() }()
			d, err := waitFlip(read, g0, func() bool {
				e, _ := a.metric("axon_policy_load_errors_total")
				return e > errs0
			}, 60*time.Second)
			if terr := <-tail; terr != nil {
				return terr
			}
			if err != nil {
				r.err = err.Error()
				logf("control plane: %d changed: %v", n, err)
				break
			}
			r.delays = append(r.delays, d)
			r.writes = append(r.writes, w)
			logf("control plane: %4d of 1000 policies changed: new generation %v after the swap (writing the version took %v)", n, d.Round(time.Millisecond), w.Round(time.Millisecond))
		}
		res.cp = append(res.cp, r)
	}
	res.cpHWM, _ = a.vmHWM()
	return nil
}

// writeVersion lays files out as the kubelet lays out a ConfigMap volume:
// a hidden folder ..v<tag> with the files, ..data a symlink to it, each
// visible name a symlink through ..data. The returned swap makes the new
// version current with one rename, so every change is one atomic step, and
// returns the rest of the kubelet's update: the visible links of new names,
// then removing the old version folder. The first version is current at
// once.
func writeVersion(dir string, files map[string]string, tag int) (func() (func() error, error), error) {
	ver := fmt.Sprintf("..v%d", tag)
	if err := os.MkdirAll(filepath.Join(dir, ver), 0o755); err != nil {
		return nil, err
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, ver, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	finish := func() error {
		for name := range files {
			link := filepath.Join(dir, name)
			if _, err := os.Lstat(link); err == nil {
				continue
			}
			if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
				return err
			}
		}
		if old != "" && old != ver {
			return os.RemoveAll(filepath.Join(dir, old))
		}
		return nil
	}
	swap := func() (func() error, error) {
		tmp := filepath.Join(dir, "..data_tmp")
		_ = os.Remove(tmp)
		if err := os.Symlink(ver, tmp); err != nil {
			return nil, err
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			return nil, err
		}
		return finish, nil
	}
	if tag == 0 {
		f, err := swap()
		if err != nil {
			return nil, err
		}
		return swap, f()
	}
	return swap, nil
}

// settle waits until the active generation has not changed for quiet and
// returns it.
func settle(read func() (uint32, error), quiet, timeout time.Duration) (uint32, error) {
	g, err := read()
	if err != nil {
		return 0, err
	}
	since, start := time.Now(), time.Now()
	for time.Since(since) < quiet {
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("the agent kept flipping generations for %v", timeout)
		}
		time.Sleep(5 * time.Millisecond)
		n, err := read()
		if err != nil {
			return 0, err
		}
		if n != g {
			g, since = n, time.Now()
		}
	}
	return g, nil
}

// waitFlip polls the active generation every millisecond until it differs
// from g0 and returns how long that took; failed reports a load error.
func waitFlip(read func() (uint32, error), g0 uint32, failed func() bool, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	lastCheck := start
	for time.Since(start) < timeout {
		g, err := read()
		if err != nil {
			return 0, err
		}
		if g != g0 {
			return time.Since(start), nil
		}
		if time.Since(lastCheck) > 200*time.Millisecond {
			lastCheck = time.Now()
			if failed() {
				return 0, errors.New("the agent failed to load or apply the change (see its log)")
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("no new generation within %v", timeout)
}

func firstLine(s string) string {
	for i, ch := range s {
		if ch == '\n' {
			return s[:i]
		}
	}
	return s
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
