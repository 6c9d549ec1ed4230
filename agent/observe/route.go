package observe

import (
	"strings"
	"sync"
	"time"
)

// RouteOther is the route of every path beyond a workload's route cap.
const RouteOther = "other"

// DefaultMaxRoutes is the route cap of a workload whose monitor sets none.
const DefaultMaxRoutes = 100

// Template matches a request path against route globs: "*" matches exactly
// one non-empty path segment; everything else matches itself. The first
// matching glob, in the monitor's order, is the route.
type Template struct {
	globs [][]string
	raw   []string
}

// NewTemplate compiles route globs (validated by api/v1alpha1/validation).
func NewTemplate(routes []string) *Template {
	t := &Template{raw: routes}
	for _, r := range routes {
		t.globs = append(t.globs, strings.Split(r, "/"))
	}
	return t
}

// Match returns the first glob matching path.
func (t *Template) Match(path string) (string, bool) {
	if t == nil {
		return "", false
	}
	n := strings.Count(path, "/") + 1
outer:
	for i, g := range t.globs {
		if len(g) != n {
			continue
		}
		rest := path
		for _, s := range g {
			seg := rest
			if k := strings.IndexByte(rest, '/'); k >= 0 {
				seg, rest = rest[:k], rest[k+1:]
			}
			if s == "*" {
				if seg == "" {
					continue outer
				}
			} else if s != seg {
				continue outer
			}
		}
		return t.raw[i], true
	}
	return "", false
}

// Collapse is the route heuristic for paths no glob matches: each segment
// that is a number, a UUID or a hex id (at least 8 hex digits, one of them
// a digit) becomes "*". Everything else is kept.
func Collapse(path string) string {
	var b strings.Builder // only used once a segment is collapsed
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '/' {
			continue
		}
		if isID(path[start:i]) {
			if b.Len() == 0 {
				b.Grow(len(path))
				b.WriteString(path[:start])
			}
			b.WriteByte('*')
		} else if b.Len() > 0 {
			b.WriteString(path[start:i])
		}
		if i < len(path) && b.Len() > 0 {
			b.WriteByte('/')
		}
		start = i + 1
	}
	if b.Len() == 0 {
		return path
	}
	return b.String()
}

func isID(s string) bool {
	if s == "" {
		return false
	}
	digits, hex := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			digits++
			hex++
		case c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F':
			hex++
		case c == '-' && isUUIDDash(len(s), i):
		default:
			return false
		}
	}
	switch {
	case digits == len(s):
		return true // a number
	case len(s) == 36:
		return hex == 32 // a UUID: dashes at 8, 13, 18, 23
	}
	return hex == len(s) && len(s) >= 8 && digits > 0
}

func isUUIDDash(n, i int) bool { return n == 36 && (i == 8 || i == 13 || i == 18 || i == 23) }

// Routes caps the route values of each workload: a route is admitted while
// the workload has fewer than its cap; later ones become RouteOther.
// Routes not used for the expiry period free their slot.
type Routes struct {
	mu   sync.Mutex
	seen map[string]map[string]time.Time // workload key -> route -> last use
}

// NewRoutes returns an empty route cap table.
func NewRoutes() *Routes { return &Routes{seen: map[string]map[string]time.Time{}} }

// Admit returns route, or RouteOther when the workload already has max
// other routes.
func (r *Routes) Admit(workload, route string, max int, now time.Time) string {
	if max <= 0 {
		max = DefaultMaxRoutes
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.seen[workload]
	if m == nil {
		m = map[string]time.Time{}
		r.seen[workload] = m
	}
	if _, ok := m[route]; ok || len(m) < max {
		m[route] = now
		return route
	}
	return RouteOther
}

// Expire forgets routes last used before cut.
func (r *Routes) Expire(cut time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for w, m := range r.seen {
		for k, t := range m {
			if t.Before(cut) {
				delete(m, k)
			}
		}
		if len(m) == 0 {
			delete(r.seen, w)
		}
	}
}
