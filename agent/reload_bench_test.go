package agent

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/agent/watch"
	"github.com/axon-dev/axon/bench/scaleset"
	"github.com/axon-dev/axon/policy/table"
)

// flipTimer is the real datapath, noting when each Apply returned: the new
// generation is then what every packet is decided by.
type flipTimer struct {
	*BPFDatapath
	started time.Time // when the last Apply began
	flipped time.Time
	cpu     time.Duration // processCPU when the last Apply returned
	written int           // entries written or deleted by the last Apply
}

func (f *flipTimer) Apply(t *table.Table) error {
	f.started = time.Now()
	st, err := f.ApplyStats(t)
	f.flipped = time.Now()
	f.cpu = processCPU()
	f.written = st.Updated + st.Deleted
	return err
}

// BenchmarkReload is the control plane on bench-e2e's folder (1,000
// policies x 10 rules, 200 pod identities) with the real maps: "changed-N"
// is the agent's reload after N policies changed (a scan as Watch does,
// cached read, compile, map write, generation flip, and what the agent does
// after it); "full" reads and compiles the folder with no cache and writes
// it. ms-to-flip is from the start of the reload to the new generation in
// the maps, cpu-ms-to-flip the CPU time the process used meanwhile (every
// goroutine, the garbage collector's too); compare the sub-benchmarks of
// one run.
func BenchmarkReload(b *testing.B) {
	needRoot(b)
	dir := b.TempDir()
	set := scaleset.Set{Pods: 200, Policies: 1000}
	write := func(files map[string]string) { writeFilesAtomically(b, dir, files) }
	write(set.Files(nil, 0))
	pin := testPinDir(b)
	bdp, err := OpenDatapath(pin, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bdp.Close() })
	dp := &flipTimer{BPFDatapath: bdp}
	a, err := New(Config{PolicyDir: dir, Interfaces: []string{"lo"}, PinDir: pin,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, dp, NewDirLoader())
	if err != nil {
		b.Fatal(err)
	}
	if a.reload("") != nil || a.Table() == nil {
		b.Fatal("the first load was not applied")
	}
	rows := len(a.Table().Paths)
	// Both generations hold the table, as after an agent's first change:
	// the first change measured writes a diff, not a whole generation.
	if err := dp.Apply(a.Table()); err != nil {
		b.Fatal(err)
	}

	fps := watch.NewHasher() // as Watch scans
	if _, err := fps.Fingerprint(dir); err != nil {
		b.Fatal(err)
	}
	tag := 0
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("changed-%d", n), func(b *testing.B) {
			var toFlip, toWrite, cpu time.Duration
			written := 0
			for b.Loop() {
				b.StopTimer()
				tag++
				changed := map[int]bool{}
				for i := 0; i < n; i++ {
					changed[i*1000/n] = true
				}
				files := set.Files(changed, tag)
				for name := range files {
					if name != "pods.yaml" && !changed[policyIndex(name)] {
						delete(files, name)
					}
				}
				delete(files, "pods.yaml")
				write(files)
				gen := a.generationNow()
				// The garbage of rendering the folder is the benchmark's:
				// collected here, it is not charged to the reload.
				runtime.GC()
				b.StartTimer()
				start, cpu0 := time.Now(), processCPU()
				fp, err := fps.Fingerprint(dir)
				if err != nil {
					b.Fatal(err)
				}
				if a.reload(fp) != nil || a.generationNow() != gen+1 {
					b.Fatal("the change was not applied")
				}
				toFlip += dp.flipped.Sub(start)
				toWrite += dp.started.Sub(start)
				cpu += dp.cpu - cpu0
				written += dp.written
			}
			b.ReportMetric(float64(toFlip.Milliseconds())/float64(b.N), "ms-to-flip")
			b.ReportMetric(float64(toWrite.Milliseconds())/float64(b.N), "ms-to-map-write")
			b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms-to-flip")
			b.ReportMetric(float64(written)/float64(b.N), "entries-written")
		})
	}
	// Last: its table, compiled without the previous IDs, would make the
	// next changes rewrite much of the maps.
	b.Run("full", func(b *testing.B) {
		var toFlip time.Duration
		for b.Loop() {
			start := time.Now()
			t, _, err := LoadDir(dir, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := dp.Apply(t); err != nil {
				b.Fatal(err)
			}
			toFlip += dp.flipped.Sub(start)
		}
		b.ReportMetric(float64(toFlip.Milliseconds())/float64(b.N), "ms-to-flip")
		b.ReportMetric(float64(rows), "rows")
	})
}

// processCPU is the CPU time (user and system) this process has used: on a
// shared machine the wall clock of a reload depends on the other load, its
// CPU time much less.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// policyIndex is i of scaleset's file name p%04d.yaml (-1 for others).
func policyIndex(name string) int {
	var i int
	if _, err := fmt.Sscanf(name, "p%04d.yaml", &i); err != nil {
		return -1
	}
	return i
}

// writeFilesAtomically writes files (name to content) into dir, each through
// a temporary file renamed into place, as editors and ConfigMap updates do.
func writeFilesAtomically(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for n, c := range files {
		tmp := filepath.Join(dir, "."+n+".tmp")
		if err := os.WriteFile(tmp, []byte(c), 0o644); err != nil {
			tb.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, n)); err != nil {
			tb.Fatal(err)
		}
	}
}
