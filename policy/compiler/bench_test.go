package compiler

import (
	"context"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/table"
)

// benchInput is issue 3's benchmark workload: 5,000 pod identities in 50
// namespaces and 1,000 policies of 10 rules each (pod, namespace and CIDR
// sources; methods; exact, prefix and glob paths).
func benchInput() *Input {
	rng := rand.New(rand.NewPCG(42, 42))
	in := &Input{}
	const nss, apps = 50, 20
	for n := 0; n < nss; n++ {
		in.Namespaces = append(in.Namespaces, corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ns%d", n), Labels: map[string]string{"team": fmt.Sprintf("t%d", n%5)}}})
	}
	for i := 0; i < 5000; i++ {
		p := pod(fmt.Sprintf("ns%d", i%nss), fmt.Sprintf("pod%d", i), fmt.Sprintf("10.%d.%d.%d", 1+i/65536, i/256%256, i%256),
			map[string]string{"app": fmt.Sprintf("app%d", (i/nss)%apps), "instance": fmt.Sprintf("i%d", i)})
		in.Pods = append(in.Pods, p)
	}
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH"}
	for i := 0; i < 1000; i++ {
		ns := fmt.Sprintf("ns%d", i%nss)
		p := v1alpha1.L7NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("p%d", i)}}
		p.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app%d", (i/nss)%apps)}}
		p.Spec.Ports = []v1alpha1.PortSpec{{Port: 8080}}
		if i%10 == 0 {
			p.Spec.Mode = v1alpha1.ModeAudit
		}
		for r := 0; r < 10; r++ {
			rule := v1alpha1.Rule{Action: v1alpha1.ActionAllow}
			if r == 9 {
				rule.Action = v1alpha1.ActionDeny
			}
			switch r % 4 {
			case 0:
				rule.From = []v1alpha1.Peer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app%d", rng.IntN(apps))}}}}
			case 1:
				rule.From = []v1alpha1.Peer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": fmt.Sprintf("t%d", rng.IntN(5))}},
					PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": fmt.Sprintf("app%d", rng.IntN(apps))}}}}
			case 2:
				// Two draws as before (the rest of the workload stays the
				// same); except must lie inside the CIDR (validation).
				n, _ := rng.IntN(64), rng.IntN(64)
				rule.From = []v1alpha1.Peer{{IPBlock: &v1alpha1.IPBlock{CIDR: fmt.Sprintf("192.168.%d.0/24", n), Except: []string{fmt.Sprintf("192.168.%d.128/25", n)}}}}
			}
			h := v1alpha1.HTTPRule{Methods: []string{methods[rng.IntN(len(methods))]}}
			switch r % 3 {
			case 0:
				h.Paths = []v1alpha1.PathMatch{{Prefix: fmt.Sprintf("/api/v%d/res%d", rng.IntN(3), r)}}
			case 1:
				h.Paths = []v1alpha1.PathMatch{{Exact: fmt.Sprintf("/api/v1/item%d", rng.IntN(50))}}
			case 2:
				h.Paths = []v1alpha1.PathMatch{{Glob: fmt.Sprintf("/api/v1/orders/*/items%d", r)}}
			}
			rule.HTTP = []v1alpha1.HTTPRule{h}
			p.Spec.Rules = append(p.Spec.Rules, rule)
		}
		in.Policies = append(in.Policies, p)
	}
	return in
}

func rowCount(t *table.Table) int { return len(t.Paths) }

// BenchmarkCompileFull compiles the whole workload from scratch.
func BenchmarkCompileFull(b *testing.B) {
	in := benchInput()
	ctx := context.Background()
	var t *table.Table
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		var err error
		if t, err = Compile(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/1e6/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(rowCount(t)), "rows")
	b.ReportMetric(float64(len(t.Classes)), "classes")
	b.ReportMetric(float64(len(t.Identities)), "identities")
	b.ReportMetric(float64(len(t.Endpoints)), "endpoints")
}

// BenchmarkCompileOneChange recompiles after changing one rule of one policy,
// with the previous table and the partial evaluation cache; compare with
// BenchmarkCompileFull.
func BenchmarkCompileOneChange(b *testing.B) {
	in := benchInput()
	ctx := context.Background()
	cache := NewCache()
	prev, err := Compile(ctx, in, WithCache(cache))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	var t *table.Table
	cpu := cpuTime()
	for b.Loop() {
		i++
		in.Policies[500].Spec.Rules[0].HTTP[0].Paths = []v1alpha1.PathMatch{{Prefix: fmt.Sprintf("/changed/%d", i)}}
		if t, err = Compile(ctx, in, WithCache(cache), WithPrevious(prev)); err != nil {
			b.Fatal(err)
		}
		prev = t
	}
	b.ReportMetric(float64(cpuTime()-cpu)/1e6/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(rowCount(t)), "rows")
}

// cpuTime is the process's user and system CPU time: on a machine shared
// with other work it says what a compilation costs better than the wall
// clock, which it bounds on an idle machine (a compilation never waits).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
