package agent

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
)

func TestZZProfileReload(t *testing.T) {
	dir := os.Getenv("ZZ_DIR")
	if dir == "" {
		t.Skip()
	}
	dp, err := datapath.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	cache := compiler.NewCache()
	files := source.NewCache()
	var prev *compiler.Table
	for i := 0; i < 4; i++ {
		cpu := func() time.Duration {
			var ru syscall.Rusage
			syscall.Getrusage(0, &ru)
			return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		c0 := cpu()
		t0 := time.Now()
		set, _, _ := files.Load(dir)
		t1 := time.Now()
		c1 := cpu()
		in := set.Input()
		tb, err := compiler.Compile(context.Background(), in, compiler.WithPrevious(prev), compiler.WithCache(cache))
		if err != nil {
			t.Fatal(err)
		}
		t2 := time.Now()
		c2 := cpu()
		st, err := dp.ApplyStats(tb)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("load %d: source %v compile %v apply %v (%+v) rows %d; cpu %v %v %v", i, t1.Sub(t0), t2.Sub(t1), time.Since(t2), st, len(tb.Paths), c1-c0, c2-c1, cpu()-c2)
		prev = tb
	}
}
