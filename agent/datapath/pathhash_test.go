package datapath

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/axon-dev/axon/bpf"
	"github.com/axon-dev/axon/policy/table"
	"github.com/cilium/ebpf"
)

// TestHashTriesPicksTriesByLengths: a trie goes to path_hash when it has at
// most maxLens distinct prefix lengths, none longer than the hash key, and
// its path_lens entry lists them longest first.
func TestHashTriesPicksTriesByLengths(t *testing.T) {
	row := func(method uint8, class uint16, prefix string) table.PathRow {
		return table.PathRow{Endpoint: 1, Class: class, Method: method, Prefix: prefix, Enforce: table.Match{Allow: 1}}
	}
	var rows []table.PathRow
	// Class 0, GET: lengths 0, 3, 4 (twice), 5.
	for _, p := range []string{"", "/ab", "/abc", "/abd", "/ok1\x00"} {
		rows = append(rows, row(1, 0, p))
	}
	// Class 1, GET: one prefix longer than the hash key.
	rows = append(rows, row(1, 1, "/"), row(1, 1, "/"+strings.Repeat("x", hashPathKey)))
	// Class 2, GET: maxTrieLens+1 lengths.
	for n := 1; n <= maxTrieLens+1; n++ {
		rows = append(rows, row(1, 2, "/"+strings.Repeat("y", n-1)))
	}
	tab := &table.Table{Paths: rows}
	p, err := planPaths(tab, maxTrieLens)
	if err != nil {
		t.Fatal(err)
	}
	// A NUL before a row's end would, in the kernel's zero-padded keys,
	// make it the row of a shorter path: refused.
	nul := &table.Table{Paths: []table.PathRow{row(1, 0, "/admin\x00\x00")}}
	if _, err := planPaths(nul, maxTrieLens); err == nil {
		t.Errorf("planPaths accepted the row %q", nul.Paths[0].Prefix)
	}
	hashed := map[uint16]bool{}
	for i, r := range p.rows {
		if r.Method == table.MethodAny {
			continue
		}
		if p.hashed[i] {
			hashed[r.Class] = true
		}
	}
	if !hashed[0] || hashed[1] || hashed[2] {
		t.Fatalf("hashed classes %v, want class 0 only", hashed)
	}
	var lens []uint8
	for _, tr := range p.tries {
		if r := p.rows[tr.first]; r.Class == 0 && r.Method == 1 {
			lens = tr.lens.Len[:tr.lens.N]
		}
	}
	if want := []uint8{5, 4, 3, 0}; !slices.Equal(lens, want) {
		t.Errorf("class 0 GET lengths %v, want %v", lens, want)
	}
	// A lower bound moves class 0 (4 lengths) out; 0 moves every trie.
	for _, c := range []struct{ maxLens, hashedTries int }{{3, 0}, {0, 0}, {4, 1}} {
		p, err := planPaths(tab, c.maxLens)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, tr := range p.tries {
			if p.rows[tr.first].Method == 1 {
				n++
			}
		}
		if n != c.hashedTries {
			t.Errorf("at most %d lengths: %d GET tries hashed, want %d", c.maxLens, n, c.hashedTries)
		}
	}
}

// hashCaseTable allows GET /ok (exact) and GET /api/ (prefix), denies any
// method on /api/admin (prefix): default deny.
func hashCaseTable() *table.Table {
	t := oneRuleTable()
	t.Rules = append(t.Rules, table.Rule{ID: 3, Namespace: "ns", Policy: "p", Index: 1, Action: table.ActionDeny})
	t.Methods = append(t.Methods, table.Method{Name: "POST", ID: 2})
	t.Paths = append(t.Paths,
		table.PathRow{Endpoint: 1, Method: 1, Prefix: "/api/", Enforce: table.Match{Allow: 1}},
		table.PathRow{Endpoint: 1, Method: table.MethodAny, Prefix: "/api/admin", Enforce: table.Match{Deny: 3}})
	return t
}

// hashCaseOutcome sends request line req ("GET /ok") with a Host header on
// a new flow through d's ingress program: "pass" or "reset".
func hashCaseOutcome(t *testing.T, d *Datapath, req string) string {
	t.Helper()
	f := newFlow(t, d.Ingress(), client, server)
	return map[outcome]string{passed: "pass", reset: "reset"}[f.send(req+" HTTP/1.1\r\nHost: x\r\n\r\n")]
}

// TestPathHashDecidesWithoutTrie: requests to a table whose tries are all
// in path_hash are decided by path_hash alone (the paths entries of the
// generation removed), and those of a table without path_lens entries (an
// older agent's, or tries with too many lengths) by paths alone.
func TestPathHashDecidesWithoutTrie(t *testing.T) {
	d := sharedTest(t)
	cases := []struct{ req, want string }{
		{"GET /ok", "pass"}, {"GET /ok/", "reset"}, {"GET /api/x", "pass"}, {"GET /api/", "pass"},
		{"GET /api/admin/x", "reset"}, {"POST /api/x", "reset"}, {"POST /api/admin", "reset"}, {"GET /no", "reset"},
	}
	check := func(what string, want func(i int) string) {
		t.Helper()
		for i, c := range cases {
			if got := hashCaseOutcome(t, d, c.req); got != want(i) {
				t.Errorf("%s: %s: %s, want %s", what, c.req, got, want(i))
			}
		}
	}
	asTable := func(i int) string { return cases[i].want }
	for _, trieLens := range []int{maxTrieLens, 0} {
		d.setTrieLens(t, trieLens)
		if err := d.Apply(hashCaseTable()); err != nil {
			t.Fatal(err)
		}
		gen := d.active
		hashed := countGen(t, d.objs.PathLens, 0, gen)
		if want := map[bool]int{true: 2, false: 0}[trieLens > 0]; hashed != want {
			t.Fatalf("at most %d lengths: %d path_lens entries, want %d (the GET and any-method tries)", trieLens, hashed, want)
		}
		check(fmt.Sprintf("at most %d lengths", trieLens), asTable)

		// Without the generation's paths entries, only path_hash can
		// decide; with no trie hashed, every path gets the default.
		keys := genKeys(t, d.objs.Paths, 4, gen)
		for _, k := range keys {
			if err := d.objs.Paths.Delete(k); err != nil {
				t.Fatal(err)
			}
		}
		check(fmt.Sprintf("at most %d lengths, paths emptied", trieLens), func(i int) string {
			if trieLens > 0 {
				return cases[i].want
			}
			return "reset"
		})
		for _, k := range keys { // put back what held says is there
			if err := d.objs.Paths.Put(k, d.held[gen][bpf.AxonMapPaths][string(k)]); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// genKeys are the keys of generation gen in m (the generation byte at
// genOff of each key).
func genKeys(t *testing.T, m *ebpf.Map, genOff int, gen uint8) [][]byte {
	t.Helper()
	var k, v []byte
	var keys [][]byte
	it := m.Iterate()
	for it.Next(&k, &v) {
		if g, ok := keyGen(genOff, k); ok && g == gen {
			keys = append(keys, slices.Clone(k))
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}

// countGen counts the entries of generation gen in m.
func countGen(t *testing.T, m *ebpf.Map, genOff int, gen uint8) int {
	t.Helper()
	return len(genKeys(t, m, genOff, gen))
}

// TestReopenAfterOlderAgentDecidesByPaths: an agent of a version without
// path_hash (downgrade, then upgrade again) writes paths and flips the
// generation (hashed_gen 0, its padding), leaving the path_lens and
// path_hash entries it does not know of. They must not decide after the
// next Open: the reopened datapath decides by the paths rows in force until
// its own Apply.
func TestReopenAfterOlderAgentDecidesByPaths(t *testing.T) {
	dir := pinTestDir(t)
	d1, err := Open(WithPinDir(dir), WithoutClientReset(), testSides)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // both generations: hashCaseTable, with path_lens
		if err := d1.Apply(hashCaseTable()); err != nil {
			t.Fatal(err)
		}
	}
	older := 1 - d1.active
	if countGen(t, d1.objs.PathLens, 0, older) == 0 {
		t.Fatal("no path_lens entries to leave behind")
	}
	// The older agent: generation older gets a table without path rows
	// (every path denied by default), path_lens and path_hash untouched.
	for _, k := range genKeys(t, d1.objs.Paths, 4, older) {
		if err := d1.objs.Paths.Delete(k); err != nil {
			t.Fatal(err)
		}
	}
	if err := d1.objs.Config.Put(uint32(0), bpf.AxonAxConfig{ActiveGen: uint32(older)}); err != nil {
		t.Fatal(err)
	}
	d1.Close()

	d2, err := Open(WithPinDir(dir), WithoutClientReset(), testSides)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	registerReply(d2)
	if countGen(t, d2.objs.PathLens, 0, older) == 0 {
		t.Fatal("the older agent's generation has no stale path_lens entries: the test tests nothing")
	}
	f := newFlow(t, d2.Ingress(), client, server)
	if o := f.send("GET /ok HTTP/1.1\r\n\r\n"); o != reset {
		t.Fatalf("GET /ok: %v, want the reset of the table in force (no path rows), not the stale path_hash row's allow", o)
	}
	if err := d2.Apply(hashCaseTable()); err != nil {
		t.Fatal(err)
	}
	if countGen(t, d2.objs.PathLens, 0, d2.active) == 0 {
		t.Error("Apply after Open wrote no path_lens entries")
	}
	f = newFlow(t, d2.Ingress(), client, server)
	if o := f.send("GET /ok HTTP/1.1\r\n\r\n"); o != passed {
		t.Fatalf("GET /ok after Apply: %v", o)
	}
}

// TestOlderAgentFlipWhileAttached: an agent of a version without path_hash
// (a downgrade) starts while this version's programs are still attached
// (pinned links stay until the new agent attaches its own, after its first
// Apply: agent/run.go). It writes its table into the inactive generation's
// paths, leaving that generation's path_lens and path_hash entries (written
// by this version two Applies ago) in place, and flips. The programs still
// attached must decide by the paths rows it wrote, never by the stale
// path_hash rows.
func TestOlderAgentFlipWhileAttached(t *testing.T) {
	d := openTest(t)
	if err := d.Apply(hashCaseTable()); err != nil { // allows GET /ok
		t.Fatal(err)
	}
	stale := d.active
	if err := d.Apply(hashCaseTable()); err != nil {
		t.Fatal(err)
	}
	if countGen(t, d.objs.PathLens, 0, stale) == 0 {
		t.Fatal("no path_lens entries in the generation the older agent writes")
	}
	// The older agent's table: GET /ok no longer allowed (default deny).
	older := hashCaseTable()
	older.Paths = slices.DeleteFunc(older.Paths, func(r table.PathRow) bool { return r.Prefix == "/ok\x00" })
	want, err := encode(older, stale)
	if err != nil {
		t.Fatal(err)
	}
	var k, v []byte
	var keys [][]byte
	it := d.objs.Paths.Iterate()
	for it.Next(&k, &v) {
		if g, ok := keyGen(4, k); ok && g == stale {
			keys = append(keys, slices.Clone(k))
		}
	}
	for _, k := range keys {
		if err := d.objs.Paths.Delete(k); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range want[bpf.AxonMapPaths] {
		if err := d.objs.Paths.Put([]byte(k), v); err != nil {
			t.Fatal(err)
		}
	}
	// Its config: the generation, and zero where it knows of no field.
	if err := d.objs.Config.Put(uint32(0), bpf.AxonAxConfig{ActiveGen: uint32(stale)}); err != nil {
		t.Fatal(err)
	}
	f := newFlow(t, d.Ingress(), client, server)
	if o := f.send("GET /ok HTTP/1.1\r\n\r\n"); o != reset {
		t.Fatalf("GET /ok: %v, want the reset of the older agent's table, not the stale path_hash row's allow", o)
	}
	f = newFlow(t, d.Ingress(), client, server)
	if o := f.send("GET /api/x HTTP/1.1\r\n\r\n"); o != passed {
		t.Fatalf("GET /api/x: %v, want the older agent's allow", o)
	}
}

// TestWithoutPathHash: a node whose agent ran with path_hash restarts with
// it switched off (--path-hash=false). The first Apply writes a generation
// without path_lens entries, so the programs decide by paths; the second
// also clears the other generation's, and path_hash is then empty.
// Requests are decided as the table says throughout.
func TestWithoutPathHash(t *testing.T) {
	dir := pinTestDir(t)
	d1, err := Open(WithPinDir(dir), WithoutClientReset(), testSides)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := d1.Apply(hashCaseTable()); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []*ebpf.Map{d1.objs.PathLens, d1.objs.PathHash} {
		if countGen(t, m, 0, 0)+countGen(t, m, 0, 1) == 0 {
			t.Fatal("the hashed agent wrote no path_lens or path_hash entries: the test tests nothing")
		}
	}
	d1.Close()

	d2, err := Open(WithPinDir(dir), WithoutClientReset(), testSides, WithoutPathHash())
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	registerReply(d2)
	for apply := 1; apply <= 2; apply++ {
		if err := d2.Apply(hashCaseTable()); err != nil {
			t.Fatal(err)
		}
		if n := countGen(t, d2.objs.PathLens, 0, d2.active); n != 0 {
			t.Errorf("apply %d: %d path_lens entries in the active generation, want none", apply, n)
		}
		for _, c := range []struct{ req, want string }{{"GET /ok", "pass"}, {"GET /api/x", "pass"}, {"GET /api/admin/x", "reset"}, {"GET /no", "reset"}} {
			if got := hashCaseOutcome(t, d2, c.req); got != c.want {
				t.Errorf("apply %d: %s: %s, want %s", apply, c.req, got, c.want)
			}
		}
	}
	var k, v []byte
	if it := d2.objs.PathHash.Iterate(); it.Next(&k, &v) {
		t.Errorf("path_hash still holds entries after both generations were written without it: %x", k)
	}
}
