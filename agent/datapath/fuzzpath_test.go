package datapath

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/axon-dev/axon/bpf"
	regolib "github.com/axon-dev/axon/policy/rego"
	"github.com/axon-dev/axon/policy/table"
)

// regoPaths holds the Rego library's canonical_path and path_canonical,
// prepared once.
var regoPaths struct {
	once       sync.Once
	canon, chk rego.PreparedEvalQuery
	err        error
}

func regoCanonical(t *testing.T, p string) (canon string, canonical bool) {
	t.Helper()
	ctx := context.Background()
	regoPaths.once.Do(func() {
		var opts []func(*rego.Rego)
		for name, text := range regolib.Modules() {
			opts = append(opts, rego.Module(name, text))
		}
		regoPaths.canon, regoPaths.err = rego.New(append(opts, rego.Query("x := data.axon.authz.canonical_path(input.path)"))...).PrepareForEval(ctx)
		if regoPaths.err == nil {
			regoPaths.chk, regoPaths.err = rego.New(append(opts, rego.Query("data.axon.authz.path_canonical == true"))...).PrepareForEval(ctx)
		}
	})
	if regoPaths.err != nil {
		t.Fatal(regoPaths.err)
	}
	in := rego.EvalInput(map[string]any{"path": p})
	rs, err := regoPaths.canon.Eval(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 1 {
		canon, _ = rs[0].Bindings["x"].(string)
	}
	rs, err = regoPaths.chk.Eval(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	return canon, len(rs) == 1
}

// FuzzCanonicalPath holds the three definitions of a request's canonical
// path to one another: the Go reference (table.NormalizePath), the Rego
// library (canonical_path, path_canonical) and the kernel's parser (the
// path and flags it leaves in the flow when it decides). The request goes
// to an Audit-only endpoint, so that a non-canonical one passes and its
// flow can be read.
func FuzzCanonicalPath(f *testing.F) {
	for _, s := range []string{
		"/", "/a/b", "/a//b", "/a/./b", "/a/../b", "/%2e%2e/x", "/%2E/x", "/a%2fb", "/a%2Fb", "/%41", "/%7e",
		"/%7E", "/%zz", "/%", "/%4", "/a;b", "/a\\b", "/a#b", "/a?b#c", "http://h/x", "HTTPS://h:80/x?q",
		"http://h", "http://h?q", "*", "x", "/%c3%a9", "/@me", "/%40me", "/a:b", "/a%3Ab", "/a+b", "/%20",
		"http:///x", "HTTPS:///api/x", "http://", "http://u@/x", "http://:80/x", "http://h\\x/y", "http://u:p@h:1/x",
		"http://[::1]:80/x", "http://@h/x", "http://h\x01/x", "http://%/x", "http://?q",
		"/\x7f", "/\x01", "/" + strings.Repeat("a", 300), "/" + strings.Repeat("b/", 2048), "/" + strings.Repeat("%41", 1400),
	} {
		f.Add(s)
	}
	d := sharedTest(f)
	tab := fixtureTable(f)
	legacy := fuzzServers[2] // Audit mode only
	applied := false
	f.Fuzz(func(t *testing.T, target string) {
		if target == "" || strings.ContainsAny(target, " \t\r\n") || len(target) > 6000 {
			return
		}
		if !applied {
			if err := d.Apply(tab); err != nil {
				t.Fatal(err)
			}
			applied = true
		}
		path, reason := table.NormalizePath(target)

		// Rego.
		switch reason {
		case "":
			if c, ok := regoCanonical(t, path); c != path || !ok {
				t.Errorf("target %q: Go canonical path %q; Rego canonical_path %q, path_canonical %v", target, path, c, ok)
			}
		case table.ReasonNonCanonicalPath:
			if a, abs := table.AbsoluteAuthority(target); strings.Contains(target, "#") || abs && !table.AuthorityHasHost(a) {
				break // the fragment and the authority are cut off before Rego sees the path
			}
			if _, ok := regoCanonical(t, path); ok {
				t.Errorf("target %q: Go says non_canonical_path (%q), Rego path_canonical true", target, path)
			}
		}

		// Kernel: the request line up to the space after the target, where
		// the parser decides.
		fl := newFlow(t, d.Ingress(), web4, legacy)
		defer d.dropFlow(fl)
		line := "GET " + target + " "
		for pos := 0; pos < len(line); pos += diffMSS {
			if o := fl.send(line[pos:min(pos+diffMSS, len(line))]); o != passed {
				t.Fatalf("target %q: %v on an Audit-only endpoint", target, o)
			}
		}
		k := flowKey(fl)
		var fv bpf.AxonAxFlow
		if err := d.objs.Flows.Lookup(&k, &fv); err != nil {
			t.Fatal(err)
		}
		toolong, noncanon := fv.Flags&0x02 != 0, fv.Flags&0x01 != 0 // AX_RF_TOOLONG, AX_RF_NONCANON
		switch {
		case reason == table.ReasonMalformedRequest:
			if !toolong {
				t.Errorf("target %q: Go malformed_request, kernel flags %#x", target, fv.Flags)
			}
		case toolong:
			t.Errorf("target %q: kernel too long, Go %q (%d bytes)", target, reason, len(path))
		case reason == table.ReasonNonCanonicalPath:
			if !noncanon {
				t.Errorf("target %q: Go non_canonical_path, kernel flags %#x", target, fv.Flags)
			}
		case noncanon:
			t.Errorf("target %q: kernel non-canonical, Go canonical %q", target, path)
		default:
			n := min(len(path), MaxGlobPath)
			if got := string(fv.Path[:min(int(fv.PathLen), n)]); int(fv.PathLen) != len(path) || got != path[:n] {
				t.Errorf("target %q: kernel path %q (%d bytes), Go %q (%d bytes)", target, got, fv.PathLen, path[:n], len(path))
			}
		}
	})
}
