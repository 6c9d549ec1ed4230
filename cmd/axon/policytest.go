package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/axon-dev/axon/policy/compiler"
	regolib "github.com/axon-dev/axon/policy/rego"
	"github.com/axon-dev/axon/policy/source"
	"github.com/axon-dev/axon/policy/table"
)

// testCmd: axon policy test [--bundle SRC]... DIR. It runs the directory's
// (and the bundles') Rego tests with OPA's test runner, with the bundles'
// data, and checks every sample request against the compiled table; any
// failure makes the exit code non-zero. With --bundle, DIR may be omitted:
// `axon policy test --bundle b.tar.gz` runs what `opa test -b b.tar.gz`
// runs.
func testCmd(ctx context.Context, args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	bundles := bundleFlag(fs)
	sizes := sizeFlags(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if err := sizes(); err != nil {
		return exitUsage, err
	}
	dir := ""
	switch {
	case len(pos) == 1:
		dir = pos[0]
	case len(pos) > 1 || len(*bundles) == 0:
		return exitUsage, fmt.Errorf("%w: want DIR (or --bundle SRC), got %d arguments", errUsage, len(pos))
	}
	l, err := load(ctx, dir, *bundles, out)
	if err != nil {
		return exitFail, err
	}
	regoPass, regoTotal, err := runRegoTests(ctx, l.set, out)
	if err != nil {
		return exitFail, err
	}
	samplePass, sampleTotal, err := runSamples(ctx, l, out)
	if err != nil {
		return exitFail, err
	}
	fmt.Fprintf(out, "%d/%d Rego tests passed, %d/%d samples passed\n", regoPass, regoTotal, samplePass, sampleTotal)
	if regoPass != regoTotal || samplePass != sampleTotal {
		fmt.Fprintln(out, "FAIL")
		return exitFail, nil
	}
	fmt.Fprintln(out, "PASS")
	return exitOK, nil
}

// runRegoTests runs the test_ rules of the directory's modules, with the
// modules policies take from ConfigMaps and the Axon Rego library loaded, so
// that tests may use data.axon.authz.
func runRegoTests(ctx context.Context, set *source.Set, out io.Writer) (pass, total int, err error) {
	if len(set.Tests) == 0 {
		fmt.Fprintln(out, "rego: no *_test.rego files")
		return 0, 0, nil
	}
	texts := set.Input().Modules // the directory's modules and referenced ConfigMap keys
	maps.Copy(texts, set.Tests)
	for name, text := range regolib.Modules() {
		texts[name] = text
	}
	mods := make(map[string]*ast.Module, len(texts))
	for name, text := range texts {
		m, err := ast.ParseModuleWithOpts(name, text, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return 0, 0, fmt.Errorf("parsing rego: %w", err)
		}
		mods[name] = m
	}
	data := map[string]any{} // the bundles' data, as `opa test -b` loads it
	maps.Copy(data, set.Data)
	store := inmem.NewFromObject(data)
	ch, err := tester.NewRunner().SetModules(mods).SetStore(store).RunTests(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("compiling rego tests: %w", err)
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	slices.SortFunc(results, func(a, b *tester.Result) int {
		if c := strings.Compare(a.Location.File, b.Location.File); c != 0 {
			return c
		}
		return a.Location.Row - b.Location.Row
	})
	fmt.Fprintf(out, "rego tests:\n")
	for _, r := range results {
		if r.Skip {
			fmt.Fprintf(out, "  SKIP %s:%d %s.%s\n", r.Location.File, r.Location.Row, r.Package, r.Name)
			continue
		}
		total++
		status := "FAIL"
		if r.Pass() {
			status = "PASS"
			pass++
		}
		fmt.Fprintf(out, "  %s %s:%d %s.%s", status, r.Location.File, r.Location.Row, r.Package, r.Name)
		if r.Error != nil {
			fmt.Fprintf(out, ": %v", r.Error)
		}
		fmt.Fprintln(out)
	}
	return pass, total, nil
}

// runSamples decides every sample request with the table's reference
// evaluator, checks that OPA's full evaluation of the Rego library agrees,
// and compares with what the sample expects.
func runSamples(ctx context.Context, l *loaded, out io.Writer) (pass, total int, err error) {
	if l.dir == "" {
		fmt.Fprintln(out, "samples: no policy directory")
		return 0, 0, nil
	}
	samples, problems, err := source.LoadSamples(l.dir)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range problems {
		fmt.Fprintf(out, "%s\n", p)
	}
	if len(problems) > 0 {
		return 0, 0, fmt.Errorf("%w: %d errors in sample files", errInvalidDir, len(problems))
	}
	if len(samples) == 0 {
		fmt.Fprintln(out, "samples: no samples.yaml or *.samples.yaml files")
		return 0, 0, nil
	}
	oracle, err := compiler.NewOracle(ctx, l.set.Input())
	if err != nil {
		return 0, 0, fmt.Errorf("preparing OPA evaluation: %w", err)
	}
	fmt.Fprintln(out, "samples:")
	for i := range samples {
		s := &samples[i]
		total++
		got, msg := checkSample(ctx, l, oracle, s)
		if msg == "" {
			pass++
			fmt.Fprintf(out, "  PASS %s %s: %s\n", s.Pos, s.Title(), got)
		} else {
			fmt.Fprintf(out, "  FAIL %s %s: %s\n", s.Pos, s.Title(), msg)
		}
	}
	return pass, total, nil
}

// checkSample returns the decision as text and, when it differs from the
// sample's expectation, what differs.
func checkSample(ctx context.Context, l *loaded, oracle *compiler.Oracle, s *source.Sample) (got, mismatch string) {
	req, err := request(l.set, s.From, s.To, s.Request)
	if err != nil {
		return "", err.Error()
	}
	d := l.table.Decide(req)
	got = decisionString(l, d)
	var diffs []string
	if od, err := oracle.Decide(ctx, req); err != nil {
		diffs = append(diffs, "OPA evaluation failed: "+err.Error())
	} else if od != d {
		diffs = append(diffs, "the compiled table and OPA disagree (OPA: "+decisionString(l, od)+"), a compiler bug")
	}
	if d.Action.String() != s.Expect {
		diffs = append(diffs, "want "+s.Expect)
	}
	if s.Policy != "" {
		r := l.rule(d.Rule)
		if r == nil || !samePolicy(s.Policy, r) {
			diffs = append(diffs, "want the decision from policy "+s.Policy)
		}
	}
	if s.Reason != "" && d.Reason != s.Reason {
		diffs = append(diffs, "want reason "+s.Reason)
	}
	if len(diffs) > 0 {
		return got, "got " + got + "; " + strings.Join(diffs, ", ")
	}
	return got, ""
}

// samePolicy reports whether name ("namespace/name" or "name") names r's
// policy.
func samePolicy(name string, r *table.Rule) bool {
	if ns, n, ok := strings.Cut(name, "/"); ok {
		return ns == r.Namespace && n == r.Policy
	}
	return name == r.Policy
}

// request builds the evaluator's request from what a user types.
func request(set *source.Set, from, to, line string) (table.Request, error) {
	src, err := set.ResolveAddr(from)
	if err != nil {
		return table.Request{}, fmt.Errorf("from: %w", err)
	}
	if src.Is6() && src.IsLinkLocalUnicast() {
		// The datapath gives such a source the identity of the pod behind
		// the interface it came in through: an address alone does not say
		// which, and reading it as external would explain a decision the
		// datapath never makes.
		return table.Request{}, fmt.Errorf("from: %s is link-local: the datapath gives it the identity of the pod whose interface it comes in through (docs/semantics.md); name that pod instead", src)
	}
	dst, err := set.ResolveAddrPort(to)
	if err != nil {
		return table.Request{}, fmt.Errorf("to: %w", err)
	}
	method, target, err := source.ParseRequest(line)
	if err != nil {
		return table.Request{}, err
	}
	return table.Request{Src: src, Dst: dst, Method: method, Target: target}, nil
}

// decisionString is "deny by shop/orders-api defaultAction (...)" or
// "deny (non_canonical_path)".
func decisionString(l *loaded, d table.Decision) string {
	s := d.Action.String()
	if d.Reason != "" {
		s += " (" + d.Reason + ")"
	}
	if d.Rule != 0 {
		s += " by " + l.describeRule(d.Rule)
	}
	return s
}
