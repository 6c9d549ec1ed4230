package source

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Expected outcomes of a sample request, as in the datapath's verdicts.
const (
	ExpectAllow     = "allow"
	ExpectDeny      = "deny"
	ExpectAuditDeny = "audit_deny"
)

// Sample is one request with its expected outcome, from a samples file:
//
//   - name: web reads an order        # optional
//     from: web                        # source: IP, namespace/pod, pod name or app label
//     to: orders:8080                  # destination host:port, host as in from
//     request: GET /api/v1/orders/7    # method and request target, as sent
//     expect: allow                    # allow | deny | audit_deny
//     policy: shop/api-allowlist       # optional: policy whose rule or default decides
//     reason: non_canonical_path       # optional: the reason the decision gives
type Sample struct {
	Pos     Pos    `yaml:"-"`
	Name    string `yaml:"name"`
	From    string `yaml:"from"`
	To      string `yaml:"to"`
	Request string `yaml:"request"`
	Expect  string `yaml:"expect"`
	Policy  string `yaml:"policy"`
	Reason  string `yaml:"reason"`
}

// Title is the sample's name, or a description made of its fields.
func (s *Sample) Title() string {
	if s.Name != "" {
		return s.Name
	}
	return fmt.Sprintf("%s -> %s %q", s.From, s.To, s.Request)
}

// LoadSamples reads every samples file (samples.yaml, *.samples.yaml) of
// the policy directory dir.
func LoadSamples(dir string) ([]Sample, Problems, error) {
	return LoadSamplesFS(os.DirFS(dir))
}

// LoadSamplesFS is LoadSamples on a file system rooted at the policy
// directory.
func LoadSamplesFS(fsys fs.FS) ([]Sample, Problems, error) {
	var out []Sample
	var problems Problems
	add := func(pos Pos, format string, args ...any) {
		problems = append(problems, Problem{Pos: pos, Severity: SeverityError, Msg: fmt.Sprintf(format, args...)})
	}
	err := eachFile(fsys, IsSampleFile, fs.ReadFile, func(name string, data []byte, err error) {
		if err != nil {
			add(Pos{File: name}, "reading: %v", err)
			return
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			add(Pos{File: name, Line: errLine(err)}, "parsing YAML: %v", err)
			return
		}
		if len(doc.Content) == 0 {
			return
		}
		list := doc.Content[0]
		if list.Kind != yaml.SequenceNode {
			add(Pos{File: name, Line: list.Line}, "a samples file is a list of samples")
			return
		}
		for _, item := range list.Content {
			pos := Pos{File: name, Line: item.Line}
			var s Sample
			if err := item.Decode(&s); err != nil {
				add(pos, "decoding sample: %v", err)
				continue
			}
			if unknown := unknownKeys(item); len(unknown) > 0 {
				add(pos, "unknown sample fields %s", strings.Join(unknown, ", "))
				continue
			}
			s.Pos = pos
			if msg := s.check(); msg != "" {
				add(pos, "sample %s: %s", s.Title(), msg)
				continue
			}
			out = append(out, s)
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("reading samples: %w", err)
	}
	return out, problems, nil
}

var sampleKeys = []string{"name", "from", "to", "request", "expect", "policy", "reason"}

func unknownKeys(n *yaml.Node) []string {
	var out []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !slices.Contains(sampleKeys, k) {
			out = append(out, k)
		}
	}
	return out
}

func (s *Sample) check() string {
	switch {
	case s.From == "" || s.To == "" || s.Request == "":
		return "from, to and request are required"
	case s.Expect != ExpectAllow && s.Expect != ExpectDeny && s.Expect != ExpectAuditDeny:
		return fmt.Sprintf("expect is %q, want allow, deny or audit_deny", s.Expect)
	}
	if _, _, err := ParseRequest(s.Request); err != nil {
		return err.Error()
	}
	return ""
}
