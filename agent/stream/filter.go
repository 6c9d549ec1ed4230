package stream

import (
	"net/url"
	"strings"
)

// Filter selects events; empty fields match everything. Several values of
// one field (repeated query parameters) match any of them.
type Filter struct {
	Types     []string // decision, request
	Verdicts  []string // deny, audit_deny (decision events only)
	Namespace []string // of the source, the destination or the policy
	Pod       []string // source or destination pod name (or IP)
	Policy    []string
	Path      []string // path prefixes
}

// ParseFilter reads a filter from query parameters type, verdict,
// namespace, pod, policy and path.
func ParseFilter(q url.Values) Filter {
	return Filter{Types: q["type"], Verdicts: q["verdict"], Namespace: q["namespace"], Pod: q["pod"],
		Policy: q["policy"], Path: q["path"]}
}

// Match reports whether e passes f.
func (f Filter) Match(e *Event) bool {
	if len(f.Types) > 0 && !has(f.Types, e.Type) {
		return false
	}
	if len(f.Verdicts) > 0 && !has(f.Verdicts, e.Verdict) {
		return false
	}
	if len(f.Policy) > 0 && !has(f.Policy, e.Policy) {
		return false
	}
	src, dst := e.Source, e.Destination
	if src == nil {
		src = &Peer{}
	}
	if dst == nil {
		dst = &Peer{}
	}
	if len(f.Namespace) > 0 && !has(f.Namespace, src.Namespace) && !has(f.Namespace, dst.Namespace) && !has(f.Namespace, e.Namespace) {
		return false
	}
	if len(f.Pod) > 0 && !has(f.Pod, src.Pod) && !has(f.Pod, dst.Pod) && !has(f.Pod, src.IP) && !has(f.Pod, dst.IP) {
		return false
	}
	if len(f.Path) > 0 {
		ok := false
		for _, p := range f.Path {
			if strings.HasPrefix(e.Path, p) {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func has(set []string, v string) bool {
	for _, s := range set {
		if s != "" && s == v {
			return true
		}
	}
	return false
}
