package table

import (
	"net/netip"
	"sort"
	"strings"

	"github.com/axon-dev/axon/bpf/shared"
)

// Request is one HTTP request as the datapath sees it.
type Request struct {
	Src    netip.Addr
	Dst    netip.AddrPort
	Method string
	Target string // raw request target
}

// DecisionAction is the outcome for one request: the datapath's verdicts
// (enum ax_verdict).
type DecisionAction uint8

const (
	DecisionAllow     = DecisionAction(shared.SharedAxVerdictAX_VERDICT_ALLOW)      // passes
	DecisionDeny      = DecisionAction(shared.SharedAxVerdictAX_VERDICT_DENY)       // connection reset
	DecisionAuditDeny = DecisionAction(shared.SharedAxVerdictAX_VERDICT_AUDIT_DENY) // passes, counted as would-deny
)

func (a DecisionAction) String() string {
	switch a {
	case DecisionAllow:
		return "allow"
	case DecisionDeny:
		return "deny"
	case DecisionAuditDeny:
		return "audit_deny"
	}
	return "invalid"
}

// Decision is the outcome and the rule (or default) it is reported against.
type Decision struct {
	Action DecisionAction
	Rule   RuleID
	Reason string // "" or one of the Reason... constants
}

// Decide decides a request from the table the way the datapath does: map
// lookups (endpoint, source identity by pod IP then CIDR longest prefix,
// source class, method ID, longest byte prefix of the path key in the
// request method's and MethodAny's tries), glob tests on the whole path,
// then the precedence of docs/semantics.md. It is the reference model of the
// kernel, not a fast path; it agrees with OPA. Only DecideBounded models the
// datapath's glob bound on paths longer than MaxGlobPath.
func (t *Table) Decide(r Request) Decision { return t.decide(r, false) }

// DecideBounded is Decide with the datapath's glob bound: globs see the first
// MaxGlobPath bytes of the path, an undecided Deny glob matches and an
// undecided Allow glob does not (fail closed), and the decision's Reason is
// ReasonGlobUndecided when the opposite assumption gives another verdict.
// This is what the datapath decides and counts for every request.
func (t *Table) DecideBounded(r Request) Decision { return t.decide(r, true) }

func (t *Table) decide(r Request, bounded bool) Decision {
	ep := t.endpoint(r.Dst)
	if ep == nil {
		return Decision{Action: DecisionAllow}
	}
	path, reason := NormalizeRequest(r.Method, r.Target)
	if reason != "" {
		if ep.Enforce {
			return Decision{Action: DecisionDeny, Reason: reason}
		}
		return Decision{Action: DecisionAuditDeny, Reason: reason}
	}
	class := t.class(ep.ID, t.identity(r.Src.Unmap()))
	method := MethodUnknown
	for _, m := range t.Methods {
		if m.Name == r.Method {
			method = m.ID
		}
	}
	// enf, aud fail closed; xenf, xaud assume the opposite of undecided
	// globs.
	var enf, aud, xenf, xaud Match
	undecided := false
	key := path + "\x00"
	if len(key) > MaxPathKey {
		key = key[:MaxPathKey]
	}
	slots := []uint8{method, MethodAny}
	for _, m := range slots {
		row := t.longestRow(ep.ID, class, m, key)
		if row == nil {
			continue
		}
		enf, xenf = enf.Combine(row.Enforce), xenf.Combine(row.Enforce)
		aud, xaud = aud.Combine(row.Audit), xaud.Combine(row.Audit)
		for _, g := range row.Globs {
			res := GlobNo
			if bounded {
				res = MatchGlobBounded(g.Pattern, path)
			} else if MatchGlob(g.Pattern, path) {
				res = GlobYes
			}
			if res == GlobNo {
				continue
			}
			m, xm := &enf, &xenf
			if g.Mode != ModeEnforce {
				m, xm = &aud, &xaud
			}
			deny := g.Action == ActionDeny
			if res == GlobYes || deny {
				m.Add(g.Action, g.Rule)
			}
			if res == GlobYes || !deny {
				xm.Add(g.Action, g.Rule)
			}
			undecided = undecided || res == GlobUndecided
		}
	}
	d := verdict(ep, enf, aud)
	if undecided && verdict(ep, xenf, xaud).Action != d.Action {
		d.Reason = ReasonGlobUndecided
	}
	return d
}

// verdict applies docs/semantics.md "Decision" steps 2-4 to the matches.
func verdict(ep *Endpoint, enf, aud Match) Decision {
	if enf.Deny != 0 {
		return Decision{Action: DecisionDeny, Rule: enf.Deny}
	}
	ev := ep.EnforceDefault
	if enf.Allow != 0 {
		ev = Verdict{ActionAllow, enf.Allow}
	}
	if ev.Action == ActionDeny {
		return Decision{Action: DecisionDeny, Rule: ev.Rule}
	}
	switch {
	case aud.Deny != 0:
		return Decision{Action: DecisionAuditDeny, Rule: aud.Deny}
	case enf.Allow != 0 || aud.Allow != 0:
		return Decision{Action: DecisionAllow, Rule: ev.Rule}
	case ep.FullDefault.Action == ActionDeny:
		return Decision{Action: DecisionAuditDeny, Rule: ep.FullDefault.Rule}
	}
	return Decision{Action: DecisionAllow, Rule: ev.Rule}
}

func (t *Table) endpoint(d netip.AddrPort) *Endpoint {
	a := d.Addr().Unmap()
	for i := range t.Endpoints {
		if e := &t.Endpoints[i]; e.Addr == a && e.Port == d.Port() {
			return e
		}
	}
	return nil
}

// identity is the source identity of an address: its pod's, else the
// longest CIDR entry's, else the world.
func (t *Table) identity(a netip.Addr) uint32 {
	i := sort.Search(len(t.PodIPs), func(i int) bool { return t.PodIPs[i].Addr.Compare(a) >= 0 })
	if i < len(t.PodIPs) && t.PodIPs[i].Addr == a {
		return t.PodIPs[i].Identity
	}
	best, bits := IdentityWorld, -1
	for _, c := range t.CIDRs {
		if c.Prefix.Contains(a) && c.Prefix.Bits() > bits {
			best, bits = c.Identity, c.Prefix.Bits()
		}
	}
	return best
}

func (t *Table) class(ep, id uint32) uint16 {
	i := sort.Search(len(t.Classes), func(i int) bool {
		c := t.Classes[i]
		return c.Endpoint > ep || c.Endpoint == ep && c.Identity >= id
	})
	if i < len(t.Classes) && t.Classes[i].Endpoint == ep && t.Classes[i].Identity == id {
		return t.Classes[i].Class
	}
	return 0
}

// longestRow is the LPM lookup of the (endpoint, class, method) trie.
func (t *Table) longestRow(ep uint32, class uint16, m uint8, key string) *PathRow {
	lo := sort.Search(len(t.Paths), func(i int) bool {
		return ComparePathRows(t.Paths[i], PathRow{Endpoint: ep, Class: class, Method: m}) >= 0
	})
	var best *PathRow
	for i := lo; i < len(t.Paths); i++ {
		r := &t.Paths[i]
		if r.Endpoint != ep || r.Class != class || r.Method != m {
			break
		}
		if strings.HasPrefix(key, r.Prefix) && (best == nil || len(r.Prefix) > len(best.Prefix)) {
			best = r
		}
	}
	return best
}
