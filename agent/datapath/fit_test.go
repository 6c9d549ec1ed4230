package datapath

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
)

// globPolicy allows n glob paths of one policy, all candidates for the
// same requests (no literal prefix before the wildcard but "/").
func globPolicy(n int) string {
	var b strings.Builder
	b.WriteString(`apiVersion: axon.dev/v1alpha1
kind: L7NetworkPolicy
metadata: {name: many-globs, namespace: shop}
spec:
  podSelector: {matchLabels: {app: orders}}
  ports: [{port: 8080}]
  defaultAction: Deny
  rules:
`)
	for i := range n {
		fmt.Fprintf(&b, "  - action: Allow\n    http: [{methods: [GET], paths: [{glob: \"/*/g%d\"}]}]\n", i)
	}
	return b.String()
}

// A table the datapath cannot load is refused before it reaches the maps,
// with the limit and the figure; one at the limit passes, and loads.
func TestFitRefusesWhatCannotLoad(t *testing.T) {
	ok := compileFS(t, map[string]string{"ns.yaml": fixtureNamespaces, "pods.yaml": fixturePods, "p.yaml": globPolicy(maxRowGlobs)})
	if err := Fit(ok); err != nil {
		t.Fatalf("%d glob candidates on a row: %v, want it to fit", maxRowGlobs, err)
	}
	dp := sharedTest(t)
	if err := dp.Apply(ok); err != nil {
		t.Fatalf("a table Fit accepts does not load: %v", err)
	}

	bad := compileFS(t, map[string]string{"ns.yaml": fixtureNamespaces, "pods.yaml": fixturePods, "p.yaml": globPolicy(maxRowGlobs + 5)})
	err := Fit(bad)
	if !errors.Is(err, ErrTableTooLarge) {
		t.Fatalf("%d glob candidates on a row: %v, want ErrTableTooLarge", maxRowGlobs+5, err)
	}
	for _, want := range []string{fmt.Sprintf("%d glob rules", maxRowGlobs+5), fmt.Sprintf("at most %d", maxRowGlobs), "shop/many-globs rule"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if err := dp.Apply(bad); err == nil {
		t.Error("a table Fit refuses was loaded: Fit is stricter than the datapath, or Apply lost its check")
	}
}

// Each decision map must hold the table in force and the next one: a table
// over half a map is refused (it would load once, and never be replaced).
func TestFitRefusesTablesOverHalfAMap(t *testing.T) {
	if testing.Short() {
		t.Skip("pure Go with 131,073 rows, the same on every kernel: runs without -short (the host run of make test-kernels, make test)")
	}
	lim, err := TableLimits()
	if err != nil {
		t.Fatal(err)
	}
	rows := lim[bpf.AxonMapPaths]
	if rows == 0 {
		t.Fatal("no limit for the paths map")
	}
	tab := &table.Table{Endpoints: []table.Endpoint{{ID: 1, Addr: netip.MustParseAddr("10.0.0.1"), Port: 80}}}
	for i := range rows {
		tab.Paths = append(tab.Paths, table.PathRow{Endpoint: 1, Class: uint16(i % 1000), Method: table.MethodAny, Prefix: fmt.Sprintf("/p%d", i)})
	}
	if err := Fit(tab); err != nil {
		t.Fatalf("%d rows (half the map): %v, want it to fit", rows, err)
	}
	tab.Paths = append(tab.Paths, table.PathRow{Endpoint: 1, Method: table.MethodAny, Prefix: "/one-more"})
	err = Fit(tab)
	if !errors.Is(err, ErrTableTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("%d path rows", rows+1)) || !strings.Contains(err.Error(), fmt.Sprintf("at most %d", rows)) {
		t.Fatalf("%d rows: %v, want ErrTableTooLarge naming the figure and the limit", rows+1, err)
	}
}
