package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/table"
)

// explainCmd: axon policy explain DIR --from SRC --to HOST:PORT "METHOD TARGET".
func explainCmd(ctx context.Context, args []string, out io.Writer) (int, error) {
	fs := flag.NewFlagSet("explain", flag.ContinueOnError)
	from := fs.String("from", "", "source: IP, namespace/pod, pod name or app label")
	to := fs.String("to", "", "destination HOST:PORT, host as in --from")
	sizes := sizeFlags(fs)
	pos, err := dirArg(fs, args, 2, `DIR and "METHOD TARGET"`)
	if err != nil {
		return exitUsage, err
	}
	if err := sizes(); err != nil {
		return exitUsage, err
	}
	if *from == "" || *to == "" {
		return exitUsage, fmt.Errorf("%w: --from and --to are required", errUsage)
	}
	l, err := load(ctx, pos[0], nil, out)
	if err != nil {
		return exitFail, err
	}
	req, err := request(l.set, *from, *to, pos[1])
	if err != nil {
		return exitFail, err
	}
	d := l.table.Decide(req)
	explain(out, l, req, d)

	// Cross-check with OPA's full evaluation of the Rego library: the table
	// is what the kernel enforces, the library is the written semantics.
	oracle, err := compiler.NewOracle(ctx, l.set.Input())
	if err != nil {
		return exitFail, fmt.Errorf("preparing OPA evaluation: %w", err)
	}
	od, err := oracle.Decide(ctx, req)
	if err != nil {
		return exitFail, err
	}
	if od != d {
		fmt.Fprintf(out, "%-9s DISAGREES: %s; please report this compiler bug\n", "opa", decisionString(l, od))
		return exitFail, nil
	}
	fmt.Fprintf(out, "%-9s %s\n", "opa", "full evaluation of the Rego library agrees")
	return exitOK, nil
}

func explain(out io.Writer, l *loaded, req table.Request, d table.Decision) {
	row := func(k, format string, args ...any) { fmt.Fprintf(out, "%-9s %s\n", k, fmt.Sprintf(format, args...)) }

	row("request", "%s %s", req.Method, req.Target)
	row("from", "%s", l.sourceString(req.Src))
	dst := req.Dst.String()
	if p := l.set.PodByAddr(req.Dst.Addr()); p != nil {
		dst = fmt.Sprintf("%s/%s %s", p.Namespace, p.Name, dst)
	}
	row("to", "%s", dst)
	path, reason := table.NormalizeRequest(req.Method, req.Target)
	switch {
	case reason == table.ReasonNotHTTP:
		row("method", "%q is not decided by rules: %s (not a token of at most %d bytes)", req.Method, reason, table.MaxMethod)
	case reason != "":
		row("path", "%q is not decided by rules: %s", req.Target, reason)
	case path != req.Target:
		row("path", "%s (canonical form of %s)", path, req.Target)
	default:
		row("path", "%s", path)
	}
	protecting := l.protecting(req.Dst)
	for i, p := range protecting {
		k := ""
		if i == 0 {
			k = "policies"
		}
		row(k, "%s/%s (%s, defaultAction %s) at %s", p.Namespace, p.Name, p.Spec.Mode, p.Spec.DefaultAction,
			p.Annotations[v1alpha1.AnnotationOrigin])
	}
	row("decision", "%s", d.Action)
	if d.Rule != 0 {
		row("rule", "%s", l.describeRule(d.Rule))
	}
	row("why", "%s", l.why(req, d, len(protecting) > 0))
}

// sourceString describes a source address as the table sees it.
func (l *loaded) sourceString(a netip.Addr) string {
	if p := l.set.PodByAddr(a); p != nil {
		return fmt.Sprintf("%s/%s %s %s (known pod)", p.Namespace, p.Name, a, labelString(p.Labels))
	}
	best := -1
	var cidr string
	for _, c := range l.table.CIDRs {
		if c.Prefix.Contains(a) && c.Prefix.Bits() > best {
			best = c.Prefix.Bits()
			cidr = c.Prefix.String()
		}
	}
	if cidr != "" {
		return fmt.Sprintf("%s (external, in ipBlock entry %s)", a, cidr)
	}
	return fmt.Sprintf("%s (external: world)", a)
}

// protecting returns the policies that select the destination pod and port.
func (l *loaded) protecting(dst netip.AddrPort) []*v1alpha1.L7NetworkPolicy {
	pod := l.set.PodByAddr(dst.Addr())
	if pod == nil {
		return nil
	}
	var out []*v1alpha1.L7NetworkPolicy
	for i := range l.set.Policies {
		p := &l.set.Policies[i]
		if p.Namespace != pod.Namespace || !selects(&p.Spec.PodSelector, pod.Labels) {
			continue
		}
		for _, port := range p.Spec.Ports {
			if int(port.Port) == int(dst.Port()) {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

func selects(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && s.Matches(labels.Set(l))
}

// why says in words which step of docs/semantics.md "Decision" decided.
func (l *loaded) why(req table.Request, d table.Decision, policed bool) string {
	r := l.rule(d.Rule)
	switch {
	case d.Reason == table.ReasonNonCanonicalPath:
		return "the path is not canonical (percent-encoded unreserved characters, //, dot segments, backslashes or raw bytes): " +
			"on a policed port such requests are decided before any rule, so that no encoding can slip past a Deny or an allow-list" +
			auditSuffix(d)
	case d.Reason != "":
		return "the request is decided before any rule: " + d.Reason + auditSuffix(d)
	case !policed && r == nil:
		return fmt.Sprintf("no policy protects %s: its traffic passes untouched", req.Dst)
	case r == nil:
		return "only Audit-mode policies protect this endpoint, and none of them would deny the request"
	}
	name := r.Namespace + "/" + r.Policy
	switch d.Action {
	case table.DecisionDeny:
		if r.Index >= 0 {
			return "this Deny rule matches the request; a matching Deny rule beats every Allow rule of every policy"
		}
		return fmt.Sprintf("no Enforce-mode Allow rule matches; the Enforce-mode policies' strictest defaultAction is Deny (%s)", name)
	case table.DecisionAuditDeny:
		if r.Index >= 0 {
			return fmt.Sprintf("the Enforce-mode policies let it through, but the Audit-mode rule of %s would deny it: it passes and is counted as audit_deny", name)
		}
		return fmt.Sprintf("the Enforce-mode policies let it through, but no rule matches and %s (Audit) defaults to Deny: it passes and is counted as audit_deny", name)
	default:
		if r.Index >= 0 {
			return "this Allow rule matches and no Deny rule of any policy protecting the endpoint does"
		}
		return "no rule matches, and every policy protecting the endpoint defaults to Allow"
	}
}

func auditSuffix(d table.Decision) string {
	if d.Action == table.DecisionAuditDeny {
		return " (only Audit-mode policies protect the endpoint: it passes and is counted)"
	}
	return ""
}
