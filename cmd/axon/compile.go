package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
)

// compileCmd: axon policy compile DIR.
func compileCmd(ctx context.Context, args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("compile", flag.ContinueOnError)
	bundles := bundleFlag(fs)
	sizes := sizeFlags(fs)
	pos, err := dirArg(fs, args, 1, "DIR")
	if err != nil {
		return exitUsage, err
	}
	if err := sizes(); err != nil {
		return exitUsage, err
	}
	l, err := load(ctx, pos[0], *bundles, out)
	if err != nil {
		return exitFail, err
	}
	summarize(out, l)
	return exitOK, nil
}

func summarize(out io.Writer, l *loaded) {
	s, t := l.set, l.table
	audit := 0
	for _, p := range s.Policies {
		if p.Spec.Mode == v1alpha1.ModeAudit {
			audit++
		}
	}
	fmt.Fprintf(out, "%s: %s, %s, %s (%d Enforce, %d Audit), %s\n", l.dir, plural(len(s.Namespaces), "namespace"),
		plural(len(s.Pods), "pod"), plural(len(s.Policies), "policy"), len(s.Policies)-audit, audit, plural(len(s.Modules), "Rego module"))

	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	for _, p := range s.Policies {
		logic := plural(len(p.Spec.Rules), "rule")
		if r := p.Spec.Rego; r != nil {
			logic = "rego " + r.File
			if r.ConfigMapRef != nil {
				logic = "rego configMap " + r.ConfigMapRef.Name + "/" + r.ConfigMapRef.Key
			} else if r.Inline != "" {
				logic = "rego inline"
			}
		}
		fmt.Fprintf(tw, "  %s/%s\t%s\tdefault %s\t%s\t%s\n", p.Namespace, p.Name, p.Spec.Mode, p.Spec.DefaultAction,
			logic, p.Annotations[v1alpha1.AnnotationOrigin])
	}
	tw.Flush()

	fmt.Fprintf(out, "endpoints: %d\n", len(t.Endpoints))
	for _, ep := range t.Endpoints {
		mode := "audit only"
		if ep.Enforce {
			mode = "enforce"
		}
		fmt.Fprintf(tw, "  %s:%d\t%s/%s\t%s\tno rule matches: %s\n", ep.Addr, ep.Port,
			ep.Namespace, ep.Pod, mode, defaultString(t, ep))
	}
	tw.Flush()

	pods, cidrs := 0, 0
	for _, id := range t.Identities {
		if id.CIDR != "" {
			cidrs++
		} else {
			pods++
		}
	}
	fmt.Fprintf(out, "identities: %d pod, %d CIDR, plus world\n", pods, cidrs)
	for _, id := range t.Identities {
		if id.CIDR != "" {
			fmt.Fprintf(out, "  %-6d cidr %s\n", id.ID, id.CIDR)
		} else {
			fmt.Fprintf(out, "  %-6d %s %s\n", id.ID, id.Namespace, labelString(id.Labels))
		}
	}

	defaults := 0
	for _, r := range t.Rules {
		if r.Index < 0 {
			defaults++
		}
	}
	fmt.Fprintf(out, "rules: %d (%d rules, %d policy defaults)\n", len(t.Rules), len(t.Rules)-defaults, defaults)
	names := make([]string, len(t.Methods))
	for i, m := range t.Methods {
		names[i] = m.Name
	}
	fmt.Fprintf(out, "methods: %d %s\n", len(t.Methods), strings.Join(names, " "))
	globs := 0
	for _, r := range t.Paths {
		globs += len(r.Globs)
	}
	lim, _ := datapath.TableLimits()
	fmt.Fprintf(out, "rows: %d source classes (at most %d), %d path rows (%d in the paths map, at most %d; %d of them also in path_hash), %d glob tests\n",
		len(t.Classes), lim[bpf.AxonMapClasses], len(t.Paths), datapath.MapPathRows(t), lim[bpf.AxonMapPaths], datapath.HashedPathRows(t), globs)
	if w := len(l.problems.Warnings()) + len(t.Warnings); w > 0 {
		fmt.Fprintf(out, "warnings: %d (above)\n", w)
	}
}

// defaultString describes what an endpoint does with requests no rule
// matches.
func defaultString(t *table.Table, ep table.Endpoint) string {
	s := actionString(ep.EnforceDefault.Action)
	if ep.EnforceDefault.Rule != 0 {
		r := t.Rules[ep.EnforceDefault.Rule-1]
		s += " (" + r.Namespace + "/" + r.Policy + ")"
	}
	if ep.FullDefault.Action != ep.EnforceDefault.Action {
		s += ", audit: " + actionString(ep.FullDefault.Action)
	}
	return s
}

func actionString(a table.Action) string {
	switch a {
	case table.ActionAllow:
		return "allow"
	case table.ActionDeny:
		return "deny"
	}
	return fmt.Sprintf("action(%d)", a)
}

func labelString(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + l[k]
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// plural is "1 rule", "2 rules", "2 policies".
func plural(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "y"):
		return fmt.Sprintf("%d %sies", n, noun[:len(noun)-1])
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
