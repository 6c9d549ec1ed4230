package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/axon-dev/axon/test/kernels"
)

// defaultPackages are the BPF suites run on every kernel; patterns that match nothing
// (packages not written yet) are ignored.
var defaultPackages = []string{
	"./test/kernels/probe",
	"./test/kernels/verifier",
	"./bpf/...",
	"./agent/attach/...",
	"./agent/datapath/...",
	"./agent/observe/...",
}

type options struct {
	repo, cache, work, tags, run, bench string
	kernels, pkgs, tools                []string
	host, verbose, short                bool
	timeout, testTimeout                time.Duration
	memMB, cpus, parallel               int
}

func main() {
	var o options
	var kernelList, pkgList, toolList string
	flag.StringVar(&o.repo, "repo", ".", "repository root")
	flag.StringVar(&o.cache, "cache", defaultCache(), "kernel cache written by scripts/kernels/fetch.sh")
	flag.StringVar(&o.work, "work", "", "work directory for binaries, initramfs and logs (default: a new temporary directory)")
	flag.StringVar(&kernelList, "kernels", "5.10,6.1,6.12", "comma-separated kernel series to boot")
	flag.StringVar(&pkgList, "pkgs", strings.Join(defaultPackages, ","), "comma-separated package patterns whose tests run on every kernel")
	flag.StringVar(&toolList, "tools", "ip,curl,nginx", "comma-separated host programs copied (with their libraries) into the guest when a test package uses test/netns, which runs them (nginx: agent/observe)")
	flag.StringVar(&o.tags, "tags", "", "build tags for the test binaries (kernelfail adds the deliberately kernel-specific verifier failure)")
	flag.StringVar(&o.run, "run", "", "passed to the test binaries as -test.run")
	flag.StringVar(&o.bench, "bench", "", "passed to the test binaries as -test.bench (with -run '^$' to run only benchmarks; TCG guests time code unlike hardware: compare ratios within one guest only)")
	flag.BoolVar(&o.host, "host", true, "also run the test binaries on the host kernel")
	flag.BoolVar(&o.verbose, "v", false, "stream the VM consoles and test output")
	flag.BoolVar(&o.short, "short", true, "pass -test.short to the tests in the VMs (TCG runs Go code 5-20x slower; the host run is never short)")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "per-VM timeout")
	flag.DurationVar(&o.testTimeout, "test-timeout", 20*time.Minute, "per-test-binary timeout (-test.timeout; in 2026-12 the datapath package took about 10 minutes per kernel under TCG on a 2-core host)")
	flag.IntVar(&o.memMB, "mem", 1024, "guest memory in MiB")
	flag.IntVar(&o.cpus, "cpus", 1, "guest vCPUs")
	flag.IntVar(&o.parallel, "parallel", 2, "VMs running at once; each boots alone, after the one before it has started its init (two TCG guests booting together on two cores starve each other's timers: 5.10 then fails to boot)")
	flag.Parse()
	o.kernels = splitList(kernelList)
	o.pkgs = splitList(pkgList)
	o.tools = splitList(toolList)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ok, err := run(ctx, o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kernelmatrix: %v\n", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

func defaultCache() string {
	if c := os.Getenv("AXON_KERNEL_CACHE"); c != "" {
		return c
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "axon", "kernels")
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

type row struct {
	name, release string
	run           *kernels.Run
	dur           time.Duration
	log           string
}

func run(ctx context.Context, o options) (bool, error) {
	repo, err := filepath.Abs(o.repo)
	if err != nil {
		return false, err
	}
	if o.work == "" {
		if o.work, err = os.MkdirTemp("", "axon-kernels-"); err != nil {
			return false, err
		}
	}
	if err := os.MkdirAll(filepath.Join(o.work, "bin"), 0o755); err != nil {
		return false, err
	}
	var ks []kernels.KernelDir
	for _, s := range o.kernels {
		k := kernels.KernelDir{Series: s, Dir: filepath.Join(o.cache, s)}
		if !k.Complete() {
			return false, fmt.Errorf("kernel %s not cached in %s: run scripts/kernels/fetch.sh %s", s, o.cache, s)
		}
		ks = append(ks, k)
	}
	if len(ks) > 0 && !kernels.HaveQEMU() {
		return false, errors.New("qemu-system-x86_64 not found: apt-get install qemu-system-x86")
	}

	start := time.Now()
	pkgs, err := kernels.ListTestPackages(repo, o.tags, o.pkgs)
	if err != nil {
		return false, err
	}
	bins, err := kernels.BuildTests(repo, o.tags, pkgs, filepath.Join(o.work, "bin"))
	if err != nil {
		return false, err
	}
	initBin := filepath.Join(o.work, "bin", "init")
	if err := kernels.BuildInit(repo, initBin); err != nil {
		return false, err
	}
	// Host tools make the initramfs (and each boot) several times bigger: only when needed.
	needTools := false
	for _, b := range bins {
		needTools = needTools || b.NeedsTools
	}
	if !needTools {
		o.tools = nil
	}
	tools, missing, err := kernels.HostTools(o.tools)
	if err != nil {
		return false, err
	}
	if len(missing) > 0 {
		fmt.Printf("kernelmatrix: not on this host, left out of the guests: %s\n", strings.Join(missing, " "))
	}
	var names []string
	for _, b := range bins {
		names = append(names, b.Name)
	}
	fmt.Printf("kernelmatrix: built %s in %.1fs (work dir %s)\n", strings.Join(names, " "), time.Since(start).Seconds(), o.work)

	testArgs := []string{"-test.v", "-test.count=1", "-test.timeout=" + o.testTimeout.String()}
	if o.run != "" {
		testArgs = append(testArgs, "-test.run="+o.run)
	}
	if o.bench != "" {
		testArgs = append(testArgs, "-test.bench="+o.bench, "-test.benchtime=1x")
	}

	vmArgs := testArgs
	if o.short {
		vmArgs = append(append([]string{}, testArgs...), "-test.short")
	}

	rows := make([]row, len(ks))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(1, o.parallel))
	var mu sync.Mutex
	// Up to o.parallel guests run at once, but each boots alone: the next
	// one starts only once the one before it has reached its init (or
	// ended).
	booted := closedChan()
	for i, k := range ks {
		wg.Add(1)
		prev, mine := booted, make(chan struct{})
		booted = mine
		go func() {
			defer wg.Done()
			<-prev // before taking a slot: a guest waiting to boot must not hold one
			sem <- struct{}{}
			defer func() { <-sem }()
			var once sync.Once
			up := func() { once.Do(func() { close(mine) }) }
			defer up()
			r := bootKernel(ctx, o, k, initBin, bins, vmArgs, tools, up)
			mu.Lock()
			rows[i] = r
			fmt.Printf("kernelmatrix: %s %s in %.1fs\n", k.Series, verdict(r.run), r.dur.Seconds())
			mu.Unlock()
		}()
	}
	var hostRow *row
	if o.host {
		// The host run shares the CPUs with the VMs; it is short next to a TCG boot.
		logPath := filepath.Join(o.work, "host.log")
		lf, err := os.Create(logPath)
		if err != nil {
			return false, err
		}
		hs := time.Now()
		var w = &prefixless{f: lf, verbose: o.verbose}
		r := kernels.RunHost(ctx, bins, testArgs, o.testTimeout+30*time.Second, w)
		lf.Close()
		hostRow = &row{name: "host", release: r.Kernel, run: r, dur: time.Since(hs), log: logPath}
		mu.Lock()
		fmt.Printf("kernelmatrix: host %s in %.1fs\n", verdict(r), hostRow.dur.Seconds())
		mu.Unlock()
	}
	wg.Wait()
	if hostRow != nil {
		rows = append(rows, *hostRow)
	}
	report(rows)
	ok := true
	for _, r := range rows {
		if !r.run.Passed() {
			ok = false
			printFailure(r)
		}
	}
	fmt.Printf("kernelmatrix: %s, total %.1fs\n", map[bool]string{true: "all kernels PASS", false: "FAIL"}[ok], time.Since(start).Seconds())
	return ok, nil
}

// prefixless writes to the log file and, in verbose mode, to stdout.
type prefixless struct {
	f       *os.File
	verbose bool
}

func (p *prefixless) Write(b []byte) (int, error) {
	if p.verbose {
		os.Stdout.Write(b)
	}
	return p.f.Write(b)
}

// closedChan returns a closed channel.
func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// bootKernel boots kernel k with the test binaries and returns its row;
// up is called once the guest's init runs (its first AXON-KERNEL line).
func bootKernel(ctx context.Context, o options, k kernels.KernelDir, initBin string, bins []kernels.TestBinary, testArgs []string, tools []kernels.HostFile, up func()) (r row) {
	r = row{name: k.Series, release: k.Release(), log: filepath.Join(o.work, k.Series+".log")}
	start := time.Now()
	defer func() { r.dur = time.Since(start) }()
	fail := func(msg string) row {
		r.run = &kernels.Run{Failure: msg}
		r.dur = time.Since(start)
		return r
	}
	initrd := filepath.Join(o.work, k.Series+".cpio")
	if err := kernels.WriteInitramfs(initrd, initBin, k.Modules(), bins, testArgs, tools); err != nil {
		return fail(err.Error())
	}
	lf, err := os.Create(r.log)
	if err != nil {
		return fail(err.Error())
	}
	defer lf.Close()
	// A guest that dies before its init runs a single test (an emulated
	// timer check failing under load, say) says nothing about Axon: boot it
	// once more. A guest that ran tests is never retried.
	var run *kernels.Run
	for attempt := 1; attempt <= 2; attempt++ {
		run, _ = kernels.Boot(ctx, kernels.VMConfig{
			Kernel: k.Vmlinuz(), Initramfs: initrd, MemoryMB: o.memMB, CPUs: o.cpus,
			Timeout: o.timeout, Log: &markerWriter{w: &prefixless{f: lf, verbose: o.verbose}, marker: []byte("AXON-KERNEL "), seen: up},
		})
		if len(run.Tests) > 0 || run.Done || ctx.Err() != nil {
			break
		}
		fmt.Printf("kernelmatrix: %s died before running any test (%s); booting it once more\n", k.Series, run.Failure)
	}
	os.Remove(initrd)
	r.run = run
	if run.Kernel != "" {
		r.release = run.Kernel
	}
	return r
}

func verdict(r *kernels.Run) string {
	if r.Passed() {
		return "PASS"
	}
	return "FAIL"
}

func report(rows []row) {
	fmt.Println()
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KERNEL\tRELEASE\tRESULT\tTIME\tTESTS")
	for _, r := range rows {
		var tests []string
		for _, t := range r.run.Tests {
			s := fmt.Sprintf("%s:%s(%.1fs)", t.Name, map[bool]string{true: "pass", false: "FAIL"}[t.Pass], t.Seconds)
			if len(t.Failed) > 0 {
				s += "[" + strings.Join(leafFailures(t.Failed), ",") + "]"
			}
			tests = append(tests, s)
		}
		if r.run.Failure != "" {
			tests = append(tests, "["+r.run.Failure+"]")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1fs\t%s\n", r.name, r.release, verdict(r.run), r.dur.Seconds(), strings.Join(tests, " "))
	}
	tw.Flush()

	// Feature lines printed by test/kernels/probe, one column per kernel.
	feats := map[string]bool{}
	for _, r := range rows {
		for f := range r.run.Features {
			feats[f] = true
		}
	}
	if len(feats) == 0 {
		return
	}
	var fs []string
	for f := range feats {
		fs = append(fs, f)
	}
	sort.Strings(fs)
	fmt.Println()
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	hdr := "FEATURE"
	for _, r := range rows {
		hdr += "\t" + r.name
	}
	fmt.Fprintln(tw, hdr)
	for _, f := range fs {
		line := f
		for _, r := range rows {
			v := r.run.Features[f]
			if v == "" {
				v = "-"
			}
			line += "\t" + v
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
}

// printFailure shows the end of the log of a failed kernel, from the first failing binary.
func printFailure(r row) {
	fmt.Printf("\n--- %s (%s) failed; full log: %s\n", r.name, r.release, r.log)
	b, err := os.ReadFile(r.log)
	if err != nil {
		return
	}
	lines := bytes.Split(b, []byte("\n"))
	from := max(0, len(lines)-60)
	for i, l := range lines {
		if bytes.Contains(l, []byte("--- FAIL")) {
			from = max(0, i-40)
			break
		}
	}
	to := min(len(lines), from+100)
	for _, l := range lines[from:to] {
		fmt.Printf("    %s\n", l)
	}
}

// leafFailures drops a failed test whose subtest also failed (the parent adds nothing) and
// keeps at most five names.
func leafFailures(names []string) []string {
	var out []string
	for i, n := range names {
		if i+1 < len(names) && strings.HasPrefix(names[i+1], n+"/") {
			continue
		}
		out = append(out, n)
	}
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("+%d more", len(out)-5))
	}
	return out
}
