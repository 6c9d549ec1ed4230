package datapath

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
	"github.com/axon-dev/axon/test/netns"
)

// The world of TestPathHashAdversarial: an enforced endpoint and an
// Audit-only one on the test server's address; a world client (class 0)
// and a pod client (class 1 of both endpoints).
var (
	hdEnforce = netip.AddrPortFrom(server.Addr(), 8080)
	hdAudit   = netip.AddrPortFrom(server.Addr(), 8081)
	hdPod     = netip.MustParseAddr("10.0.0.3")
	hdSources = []netip.Addr{client, hdPod}
)

// hdBounds are the prefix lengths around the datapath's path bounds: the
// path_hash key (64), the paths key (128) and small ones.
var hdBounds = []int{0, 1, 2, 3, 8, 31, 32, 62, 63, 64, 65, 66, 100, 126, 127, 128}

// hdStem is a canonical path of n bytes: segments of 'a' and 'b' with
// some "%2F" and "%20" escapes (kept escaped by the canonical form).
func hdStem(r *rand.Rand, n int) string {
	var b strings.Builder
	b.WriteByte('/')
	for b.Len() < n {
		switch k := r.IntN(12); {
		case k == 0 && !strings.HasSuffix(b.String(), "/"):
			b.WriteByte('/')
		case k == 1:
			b.WriteString([]string{"%2F", "%20"}[r.IntN(2)])
		default:
			b.WriteByte("ab"[r.IntN(2)])
		}
	}
	return b.String()[:n]
}

// hdTable draws a table whose tries hold rows that are prefixes of each
// other and of a few stems (some diverging from another at a random byte),
// of lengths around 64 and 128, prefix and exact rows (ending in NUL),
// some with glob candidates.
func hdTable(r *rand.Rand) *table.Table {
	t := &table.Table{
		Methods: []table.Method{{Name: "GET", ID: 1}, {Name: "POST", ID: 2}, {Name: "PUT", ID: 3}},
		PodIPs:  []table.PodIP{{Addr: hdPod, Identity: 300}},
	}
	const nRules = 40
	for id := 1; id <= nRules; id++ {
		a := table.ActionAllow
		if id%3 == 0 {
			a = table.ActionDeny
		}
		t.Rules = append(t.Rules, table.Rule{ID: table.RuleID(id), Namespace: "ns", Policy: "p", Index: id, Action: a})
	}
	t.Endpoints = []table.Endpoint{
		{ID: 1, Addr: hdEnforce.Addr(), Port: hdEnforce.Port(), Enforce: true,
			EnforceDefault: table.Verdict{Action: table.ActionDeny, Rule: 1}, FullDefault: table.Verdict{Action: table.ActionDeny, Rule: 1}},
		{ID: 2, Addr: hdAudit.Addr(), Port: hdAudit.Port(),
			EnforceDefault: table.Verdict{Action: table.ActionAllow, Rule: 2}, FullDefault: table.Verdict{Action: table.ActionDeny, Rule: 2}},
	}
	t.Classes = []table.SourceClass{{Endpoint: 1, Identity: 300, Class: 1}, {Endpoint: 2, Identity: 300, Class: 1}}
	stems := []string{hdStem(r, 300)}
	for len(stems) < 3 {
		s := stems[r.IntN(len(stems))]
		at := 1 + r.IntN(130)
		c := byte('a')
		if s[at] == 'a' {
			c = 'b'
		}
		stems = append(stems, s[:at]+string(c)+hdStem(r, 300)[1:])
	}
	rule := func() table.RuleID { return table.RuleID(3 + r.IntN(nRules-2)) }
	match := func() table.Match {
		var m table.Match
		if r.IntN(2) == 0 {
			m.Allow = rule()
		}
		if r.IntN(4) == 0 {
			m.Deny = rule()
		}
		return m
	}
	globs := []string{"/a*/**", "/**/b", "/a?b/*", "/b*", "/**"}
	for ep := uint32(1); ep <= 2; ep++ {
		for class := uint16(0); class <= 1; class++ {
			for _, m := range []uint8{1, 2, table.MethodAny} {
				if r.IntN(4) == 0 {
					continue // no trie
				}
				for n := 1 + r.IntN(10); n > 0; n-- {
					l := hdBounds[r.IntN(len(hdBounds))] + r.IntN(3) - 1
					l = max(0, min(l, table.MaxPathKey))
					s := stems[r.IntN(len(stems))]
					p := s[:l]
					if l >= 2 && r.IntN(3) == 0 {
						p = s[:l-1] + "\x00"
					}
					row := table.PathRow{Endpoint: ep, Class: class, Method: m, Prefix: p, Enforce: match(), Audit: match()}
					if r.IntN(4) == 0 {
						id := rule()
						row.Globs = []table.Glob{{Pattern: globs[r.IntN(len(globs))], Rule: id, Action: t.Rules[id-1].Action, Mode: table.Mode(r.IntN(2))}}
					}
					t.Paths = append(t.Paths, row)
				}
			}
		}
	}
	slices.SortStableFunc(t.Paths, table.ComparePathRows)
	t.Paths = slices.CompactFunc(t.Paths, func(a, b table.PathRow) bool { return table.ComparePathRows(a, b) == 0 })
	return t
}

// hdMutate is t with a few rows' values or globs changed, some dropped,
// some added one byte longer or shorter.
func hdMutate(r *rand.Rand, t *table.Table) *table.Table {
	c := *t
	c.Paths = slices.Clone(t.Paths)
	for n := 1 + r.IntN(4); n > 0 && len(c.Paths) > 0; n-- {
		i := r.IntN(len(c.Paths))
		switch r.IntN(4) {
		case 0:
			c.Paths[i].Enforce.Allow = table.RuleID(3 + r.IntN(30))
		case 1:
			c.Paths[i].Globs = []table.Glob{{Pattern: fmt.Sprintf("/a%d/**", r.IntN(50)), Rule: 4, Action: table.ActionAllow}}
		case 2:
			c.Paths = slices.Delete(c.Paths, i, i+1)
		default:
			row := c.Paths[i]
			row.Globs = nil
			if p := row.Prefix; len(p) > 0 && r.IntN(2) == 0 {
				row.Prefix = p[:len(p)-1]
			} else if len(p) < table.MaxPathKey && !strings.HasSuffix(p, "\x00") {
				row.Prefix = p + "a"
			}
			c.Paths = append(c.Paths, row)
		}
	}
	slices.SortStableFunc(c.Paths, table.ComparePathRows)
	c.Paths = slices.CompactFunc(c.Paths, func(a, b table.PathRow) bool { return table.ComparePathRows(a, b) == 0 })
	return &c
}

// hdTargets are request targets at and around every row length of t
// (cut from the rows' stems), past the path bounds, with escapes in lower
// case (the canonical form is upper case), queries and long tails.
func hdTargets(r *rand.Rand, t *table.Table, n int) []string {
	var out []string
	for len(out) < n {
		row := t.Paths[r.IntN(len(t.Paths))]
		base := strings.TrimSuffix(row.Prefix, "\x00")
		if base == "" {
			base = "/"
		}
		// Extend the row's bytes as its stem might go on, or with other
		// bytes.
		p := base + hdStem(r, 300)[1:]
		cut := len(base) + r.IntN(3) - 1
		switch r.IntN(6) {
		case 0:
			cut = hdBounds[r.IntN(len(hdBounds))] + r.IntN(3) - 1
		case 1:
			cut = 250 + r.IntN(12) // around the glob bound
		}
		cut = max(1, min(cut, len(p)))
		tgt := p[:cut]
		if strings.HasSuffix(tgt, "/") && r.IntN(2) == 0 {
			tgt += "b"
		}
		switch r.IntN(8) {
		case 0:
			tgt = strings.ReplaceAll(tgt, "%2F", "%2f")
		case 1:
			tgt += "?q=/a"
		case 2:
			if len(tgt) > 2 { // one byte changed
				i := 1 + r.IntN(len(tgt)-1)
				if tgt[i] == 'a' {
					tgt = tgt[:i] + "b" + tgt[i+1:]
				}
			}
		}
		out = append(out, tgt)
	}
	return out
}

// hdExpected is what generation gen holds after t was applied into it with
// at most trieLens prefix lengths per hashed trie.
func hdExpected(t *table.Table, gen uint8, trieLens int) (generation, error) {
	g, err := encodeRest(t, gen)
	if err != nil {
		return nil, err
	}
	p, err := planPaths(t, trieLens)
	if err != nil {
		return nil, err
	}
	p.putRows(g, gen)
	return g, p.putGlobs(g, gen)
}

// hdKernel is what the kernel's decision maps hold, per generation.
func hdKernel(t *testing.T, d *Datapath) [2]generation {
	t.Helper()
	out := [2]generation{newGeneration(), newGeneration()}
	for _, dm := range decisionMaps {
		var k, v []byte
		it := d.mapByName(dm.name).Iterate()
		for it.Next(&k, &v) {
			if g, ok := keyGen(dm.genOff, k); ok {
				out[g][dm.name][string(k)] = slices.Clone(v)
			}
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// sameGeneration names the first map where a and b differ ("" if none).
func sameGeneration(a, b generation) string {
	for _, dm := range decisionMaps {
		if !maps.EqualFunc(a[dm.name], b[dm.name], bytes.Equal) {
			return fmt.Sprintf("%s (%d entries, want %d)", dm.name, len(a[dm.name]), len(b[dm.name]))
		}
	}
	return ""
}

// TestPathHashAdversarial applies a sequence of tables whose rows are
// prefixes of each other at the 63/64/65 and 127/128 byte boundaries, each
// with another bound on hashed tries' lengths (moving tries between
// path_hash and the paths LPM), most of them a few rows or globs away from
// the last, on small maps so that some Applies fail half-written, and
// reopens the pinned maps now and then. After every Apply:
//   - the kernel holds what the agent thinks (held) in both generations;
//   - a generation last written by a successful Apply holds exactly that
//     table encoded whole (paths, path_hash, path_lens, globs);
//   - config's hashed_gen names the active generation;
//   - requests at and around every row's length, past both path bounds,
//     from both source classes, by methods with and without tries and
//     unknown ones, are decided and counted as the reference
//     (table.DecideBounded) says for the table in force.
func TestPathHashAdversarial(t *testing.T) {
	netns.RequireRoot(t)
	dir, err := os.MkdirTemp("/sys/fs/bpf", "axon-test-")
	if err != nil {
		t.Skipf("cannot create a directory on bpffs: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// Small enough that the inactive generation sometimes finds no room.
	lim := Limits{bpf.AxonMapPaths: 90}
	open := func() *Datapath {
		d, err := Open(WithPinDir(dir), WithoutClientReset(), testSides, WithLimits(lim), WithEventRate(0))
		if err != nil {
			t.Fatal(err)
		}
		registerReply(d)
		return d
	}
	d := open()
	t.Cleanup(func() { d.Close() })

	r := rand.New(rand.NewPCG(16, 64))
	steps, perStep := 80, 250
	if testing.Short() {
		steps, perStep = 20, 60
	}
	var inForce *table.Table
	var written [2]*table.Table // what a generation holds, when known
	var writtenLens [2]int
	failed, reopened, requests := 0, 0, 0
	var last *table.Table
	for step := 0; step < steps; step++ {
		if step%17 == 16 {
			// Reopen the pinned maps: read back, path_lens of the
			// active generation dropped, plans unknown.
			d.Close()
			d = open()
			written = [2]*table.Table{}
			reopened++
		}
		tab := hdTable(r)
		if last != nil && r.IntN(3) != 0 {
			tab = hdMutate(r, last)
		}
		lens := []int{maxTrieLens, 0, 1, 2, 3, 5}[r.IntN(6)]
		d.setTrieLens(t, lens)
		next := 1 - d.active
		err := d.Apply(tab)
		switch {
		case err == nil:
			last, inForce = tab, tab
			written[next], writtenLens[next] = tab, lens
		case errors.Is(err, ErrTableTooLarge):
			t.Fatalf("step %d: %v", step, err)
		default: // no room: the table in force stays
			failed++
			written[next] = nil
			if d.unknown[next] {
				t.Fatalf("step %d: generation %d unknown after a failed write: %v", step, next, err)
			}
		}

		k := hdKernel(t, d)
		for gen := range uint8(2) {
			if what := sameGeneration(k[gen], d.held[gen]); what != "" {
				t.Fatalf("step %d: generation %d: the kernel's map %s differs from what the agent holds", step, gen, what)
			}
			if written[gen] == nil {
				continue
			}
			want, err := hdExpected(written[gen], gen, writtenLens[gen])
			if err != nil {
				t.Fatal(err)
			}
			if what := sameGeneration(k[gen], want); what != "" {
				t.Fatalf("step %d: generation %d (table of at most %d lengths per hashed trie): map %s differs from the table encoded whole",
					step, gen, writtenLens[gen], what)
			}
		}
		var cfg bpf.AxonAxConfig
		if err := d.objs.Config.Lookup(uint32(0), &cfg); err != nil {
			t.Fatal(err)
		}
		if inForce != nil && written[d.active] != nil && cfg.HashedGen != uint32(d.active)+1 {
			t.Fatalf("step %d: config %+v, want hashed_gen naming generation %d", step, cfg, d.active)
		}
		if inForce == nil {
			continue
		}

		curTable = inForce
		targets := hdTargets(r, inForce, perStep)
		for len(targets) > 0 {
			src := hdSources[r.IntN(len(hdSources))]
			dst := []netip.AddrPort{hdEnforce, hdAudit}[r.IntN(2)]
			f := newFlow(t, d.Ingress(), src, dst)
			// Up to three requests on one connection: the path buffer
			// holds the earlier ones' bytes past the path.
			for k := 1 + r.IntN(3); k > 0 && len(targets) > 0; k-- {
				req := table.Request{Src: src, Dst: dst, Method: []string{"GET", "POST", "PUT", "DELETE", "get"}[r.IntN(5)], Target: targets[0]}
				targets = targets[1:]
				ref := inForce.DecideBounded(req)
				if !diffRequest(t, d, f, r, req, ref) {
					t.Fatalf("step %d: at most %d lengths per hashed trie; table rows %q", step, writtenLens[d.active], rowsOf(inForce))
				}
				requests++
				if ref.Action == table.DecisionDeny {
					break
				}
			}
		}
	}
	t.Logf("%d steps, %d Applies failed for room, %d reopens, %d requests agreed", steps, failed, reopened, requests)
	if failed == 0 || failed > steps/2 {
		t.Errorf("%d of %d Applies failed: the sizes do not exercise failed writes", failed, steps)
	}
}

// rowsOf lists a table's rows for a failure message.
func rowsOf(t *table.Table) []string {
	var out []string
	for _, r := range t.Paths {
		out = append(out, fmt.Sprintf("%d/%d/%d %q %+v %+v %d globs", r.Endpoint, r.Class, r.Method, r.Prefix, r.Enforce, r.Audit, len(r.Globs)))
	}
	return out
}
