package bundle

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	opabundle "github.com/open-policy-agent/opa/v1/bundle"

	"github.com/axon-dev/axon/policy/source"
)

// Bundle is what Axon takes from an OPA bundle.
type Bundle struct {
	// Source is where it was read from (a path or URL).
	Source string
	// Revision is the manifest's revision ("" when none).
	Revision string
	// Modules are the .rego modules by path in the bundle (no leading
	// slash), *_test.rego excluded.
	Modules map[string]string
	// Tests are the *_test.rego modules.
	Tests map[string]string
	// Data is the bundle's data document.
	Data map[string]any
	// Fingerprint identifies the content (modules and data).
	Fingerprint string
}

// maxSize bounds a bundle read from a file or over HTTP.
const maxSize = 64 << 20

// Load reads a bundle from a directory or a .tar.gz file.
func Load(src string) (*Bundle, error) {
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	if fi.IsDir() {
		b, err := opabundle.NewCustomReader(opabundle.NewDirectoryLoader(src)).
			WithSizeLimitBytes(maxSize).WithSkipBundleVerification(true).Read()
		if err != nil {
			return nil, fmt.Errorf("reading bundle %s: %w", src, err)
		}
		return fromOPA(src, &b)
	}
	f, err := os.Open(src)
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	defer f.Close()
	return Read(src, f)
}

// Read reads a bundle tarball (.tar.gz) from r; src names it in errors.
func Read(src string, r io.Reader) (*Bundle, error) {
	b, err := opabundle.NewCustomReader(opabundle.NewTarballLoader(r)).
		WithSizeLimitBytes(maxSize).WithSkipBundleVerification(true).Read()
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s: %w", src, err)
	}
	return fromOPA(src, &b)
}

func fromOPA(src string, b *opabundle.Bundle) (*Bundle, error) {
	out := &Bundle{Source: src, Revision: b.Manifest.Revision, Modules: map[string]string{}, Tests: map[string]string{}, Data: b.Data}
	if out.Data == nil {
		out.Data = map[string]any{}
	}
	h := sha256.New()
	for _, m := range b.Modules {
		p := strings.TrimPrefix(m.Path, "/")
		if strings.HasSuffix(p, "_test.rego") {
			out.Tests[p] = string(m.Raw)
		} else {
			out.Modules[p] = string(m.Raw)
		}
	}
	for _, set := range []map[string]string{out.Modules, out.Tests} {
		for _, p := range slices.Sorted(maps.Keys(set)) {
			fmt.Fprintf(h, "%s\x00%s\x00", p, set[p])
		}
	}
	data, err := json.Marshal(out.Data) // map keys sorted: stable
	if err != nil {
		return nil, fmt.Errorf("reading bundle %s: encoding data: %w", src, err)
	}
	h.Write(data)
	out.Fingerprint = fmt.Sprintf("%x", h.Sum(nil))
	return out, nil
}

// Extra is what a policy directory takes from the bundle
// (source.Load(dir, b.Extra()...)).
func (b *Bundle) Extra() source.Extra {
	return source.Extra{Name: b.Source, Modules: b.Modules, Tests: b.Tests, Data: b.Data}
}

// Extras returns the Extra of each bundle.
func Extras(bs []*Bundle) []source.Extra {
	out := make([]source.Extra, len(bs))
	for i, b := range bs {
		out[i] = b.Extra()
	}
	return out
}
