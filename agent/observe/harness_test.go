package observe

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/axon-dev/axon/test/netns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// observed is a running observer for one test: programs attached, the
// pods' namespaces monitored, events read into coll.
type observed struct {
	prog *Programs
	coll *Collector
	reg  *prometheus.Registry
}

// startObserver loads and attaches the observer for pods on the hooks the
// kernel does best; everything is undone at cleanup.
func startObserver(t *testing.T, pods []Pod) *observed {
	t.Helper()
	return startObserverOn(t, pods, HooksAuto)
}

// startObserverOn is startObserver on the given hooks.
func startObserverOn(t *testing.T, pods []Pod, hooks Hooks) *observed {
	t.Helper()
	p, err := Load(hooks)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	var ips []netip.Addr
	for _, pod := range pods {
		ips = append(ips, pod.IPs...)
	}
	where, err := NetnsOfIPs(ips)
	if err != nil {
		t.Fatal(err)
	}
	// Every pod of a test is a namespace of the test: one not found would
	// go unobserved (and its requests silently missing from the counts).
	for _, ip := range ips {
		if _, ok := where[ip.Unmap()]; !ok {
			t.Fatalf("no network namespace found for pod IP %v (found %v)", ip, where)
		}
	}
	t.Logf("pod namespaces: %v", where)
	var table PodTable
	mon := table.Set(pods, where)
	if len(mon) == 0 {
		t.Fatalf("no monitored namespace found for %v (found %v)", ips, where)
	}
	if err := p.SetNetns(mon); err != nil {
		t.Fatal(err)
	}
	coll := NewCollector(&table, p.Stats)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(coll)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, p, NewPairer(coll)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	if err := p.Attach(); err != nil {
		t.Fatal(err)
	}
	return &observed{prog: p, coll: coll, reg: reg}
}

// counts returns the _count of every series of the histogram name, keyed
// by "method route status_code" plus, if withSource, " source_ns/source_wl".
func (o *observed) counts(t *testing.T, name string, withSource bool) map[string]uint64 {
	t.Helper()
	mfs, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			l := labelMap(m)
			k := l["method"] + " " + l["route"] + " " + l["status_code"]
			if withSource {
				k += " " + l["source_namespace"] + "/" + l["source_workload"]
			}
			out[k] += m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

// series returns the histograms of name whose labels include want.
func (o *observed) series(t *testing.T, name string, want map[string]string) []*dto.Histogram {
	t.Helper()
	mfs, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Histogram
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			l := labelMap(m)
			for k, v := range want {
				if l[k] != v {
					continue next
				}
			}
			out = append(out, m.GetHistogram())
		}
	}
	return out
}

// counter returns the value of a counter series with labels want (summed).
func (o *observed) counter(t *testing.T, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			l := labelMap(m)
			for k, w := range want {
				if l[k] != w {
					continue next
				}
			}
			v += m.GetCounter().GetValue()
		}
	}
	return v
}

func labelMap(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.Label {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// waitCounts polls until got equals want or timeout, then compares exactly.
func (o *observed) waitCounts(t *testing.T, name string, withSource bool, want map[string]uint64) {
	t.Helper()
	deadline := time.Now().Add(waitFor())
	var got map[string]uint64
	for {
		got = o.counts(t, name, withSource)
		if equalCounts(got, want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !equalCounts(got, want) {
		t.Errorf("%s counts differ from what the clients sent\n got: %s\nwant: %s\nlosses: %s", name,
			fmtCounts(got), fmtCounts(want), o.lossReport(t))
	} else {
		t.Logf("%s: %s", name, fmtCounts(got))
	}
}

func (o *observed) lossReport(t *testing.T) string {
	mfs, err := o.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "axon_http_") {
			for _, m := range mf.Metric {
				if v := m.GetCounter().GetValue(); v != 0 {
					fmt.Fprintf(&b, "%s%v=%v ", mf.GetName(), labelMap(m), v)
				}
			}
		}
	}
	if st, err := o.prog.Stats(); err == nil {
		fmt.Fprintf(&b, "kernel counters (enum axs_stat): %v", st)
	}
	return b.String()
}

func equalCounts(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func fmtCounts(m map[string]uint64) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, fmt.Sprintf("[%s]=%d", k, v))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// startGoServer starts the tests' Go server (serveTest) in h on addr and
// waits until it listens. It stops when ctx ends or the test does.
func startGoServer(tb testing.TB, ctx context.Context, h *netns.Host, addr string) *exec.Cmd {
	tb.Helper()
	ctx, cancel := context.WithCancel(ctx)
	server := helper(ctx, h, "server", addr)
	out, err := server.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := server.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cancel(); server.Wait() })
	waitLine(tb, bufio.NewScanner(out), "listening")
	return server
}

// waitLine waits for a line from a helper's stdout.
func waitLine(t testing.TB, sc *bufio.Scanner, want string) {
	t.Helper()
	done := make(chan bool, 1)
	go func() {
		for sc.Scan() {
			if sc.Text() == want {
				done <- true
				return
			}
		}
		done <- false
	}()
	select {
	case ok := <-done:
		if !ok {
			t.Fatalf("helper ended before printing %q", want)
		}
	case <-time.After(6 * waitFor()):
		t.Fatalf("helper did not print %q", want)
	}
}

// waitFor is how long tests wait for events to reach the metrics: longer
// under -short, which the kernel matrix passes to its slow (TCG) guests.
func waitFor() time.Duration {
	if testing.Short() {
		return time.Minute
	}
	return 5 * time.Second
}
