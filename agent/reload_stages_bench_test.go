package agent

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/agent/watch"
	"github.com/axon-dev/axon/bench/scaleset"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
	"github.com/axon-dev/axon/policy/table"
)

// BenchmarkReloadStages is BenchmarkReload's changed-1 with each stage of
// the path to the flip timed on its own (wall clock, ms per change): the
// folder scan as Watch does it, reading the folder through the file cache,
// compiling with the compiler's cache, Fit, and the map write with the
// generation flip. It is where a regression of changed-1 shows its stage.
func BenchmarkReloadStages(b *testing.B) {
	needRoot(b)
	dir := b.TempDir()
	set := scaleset.Set{Pods: 200, Policies: 1000}
	write := func(files map[string]string) { writeFilesAtomically(b, dir, files) }
	write(set.Files(nil, 0))
	bdp, err := OpenDatapath(testPinDir(b), 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { bdp.Close() })
	files, cache := source.NewCache(), compiler.NewCache()
	fps := watch.NewHasher()
	var stages [5]time.Duration // scan, source, compile, fit, write
	var prev *table.Table
	var cpu time.Duration
	load := func() {
		b.Helper()
		t0, cpu0 := time.Now(), processCPU()
		if _, err := fps.Fingerprint(dir); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		s, problems, err := files.Load(dir)
		if err != nil || len(problems.Errors()) > 0 {
			b.Fatal(err, problems.Err())
		}
		t2 := time.Now()
		t, err := compiler.Compile(context.Background(), s.Input(), compiler.WithPrevious(prev), compiler.WithCache(cache))
		if err != nil {
			b.Fatal(err)
		}
		t3 := time.Now()
		if err := datapath.Fit(t); err != nil {
			b.Fatal(err)
		}
		t4 := time.Now()
		if err := bdp.Apply(t); err != nil {
			b.Fatal(err)
		}
		prev = t
		t5 := time.Now()
		cpu += processCPU() - cpu0
		for i, d := range []time.Duration{t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), t4.Sub(t3), t5.Sub(t4)} {
			stages[i] += d
		}
	}
	load()
	load() // both generations hold the table
	stages, cpu = [5]time.Duration{}, 0
	tag := 0
	for b.Loop() {
		b.StopTimer()
		tag++
		name := fmt.Sprintf("p%04d.yaml", tag%1000)
		write(map[string]string{name: set.Files(map[int]bool{tag % 1000: true}, tag)[name]})
		// The garbage of rendering the folder is the benchmark's:
		// collected here, it is not charged to the reload.
		runtime.GC()
		b.StartTimer()
		// Labelled for profiles: go test -cpuprofile, then pprof
		// -tagfocus stage=change leaves the first loads out.
		pprof.Do(context.Background(), pprof.Labels("stage", "change"), func(context.Context) { load() })
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms")
	b.ReportMetric(float64(len(prev.Paths)), "rows")
	b.ReportMetric(float64(datapath.MapPathRows(prev)), "map-rows")
	b.ReportMetric(float64(len(prev.Classes)), "classes")
	for i, n := range []string{"ms-scan", "ms-source", "ms-compile", "ms-fit", "ms-write"} {
		b.ReportMetric(float64(stages[i].Microseconds())/1000/float64(b.N), n)
	}
}
