package source

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/api/v1alpha1/validation"
)

// DefaultNamespace is the namespace of objects that name none, as kubectl
// would put them.
const DefaultNamespace = "default"

// LabelNamespaceName is the label the API server puts on every namespace;
// Load adds it too, so namespaceSelectors behave as in a cluster.
const LabelNamespaceName = "kubernetes.io/metadata.name"

// Set is the content of a policy directory, sorted by namespace and name.
type Set struct {
	Namespaces []corev1.Namespace
	Pods       []corev1.Pod
	Policies   []v1alpha1.L7NetworkPolicy // defaulted and valid
	Modules    map[string]string          // .rego path (relative, / separated) -> text, tests excluded
	Tests      map[string]string          // *_test.rego path -> text
	// ConfigMaps are the v1 ConfigMaps of the directory: a policy may take
	// its Rego module from one with spec.rego.configMapRef, as in a cluster.
	ConfigMaps []corev1.ConfigMap
	// Monitors are the HTTPMonitors of the directory (valid ones only).
	Monitors []v1alpha1.HTTPMonitor
	// PolicyVersions identifies the content of each policy of Policies
	// (key: namespace/name): equal versions are equal policies, so the
	// compiler may reuse what it prepared from one (compiler.Input).
	PolicyVersions map[string]string
	// Data and DataModules are OPA bundle data and modules (policy/bundle
	// adds them; Load leaves them empty): see compiler.Input.
	Data        map[string]any
	DataModules map[string]string
}

// Load reads the policy directory dir. The error is for a directory that
// cannot be read at all; problems in files are in Problems, and the Set
// holds every object that loaded without error.
//
// extras (OPA bundles) add modules, tests and data as if they were files of
// the directory.
func Load(dir string, extras ...Extra) (*Set, Problems, error) {
	if fi, err := os.Stat(dir); err != nil {
		return nil, nil, fmt.Errorf("reading policy directory: %w", err)
	} else if !fi.IsDir() {
		return nil, nil, fmt.Errorf("reading policy directory: %s is not a directory", dir)
	}
	return LoadFS(os.DirFS(dir), extras...)
}

// LoadFS is Load on a file system whose root is the policy directory.
func LoadFS(fsys fs.FS, extras ...Extra) (*Set, Problems, error) { return loadFS(fsys, nil, extras) }

func loadFS(fsys fs.FS, cache *Cache, extras []Extra) (*Set, Problems, error) {
	l := &loader{
		where: " in the policy directory",
		set:   &Set{Modules: map[string]string{}, Tests: map[string]string{}},
		seen:  map[string]Pos{},
		podIP: map[netip.Addr]Pos{},
	}
	policyFile := func(name string) bool {
		k := kindOfFile(name)
		return k == fileYAML || k == fileRego || k == fileRegoTest
	}
	read := fs.ReadFile
	if cache != nil && cache.dir != "" {
		read = cache.readFile
	}
	err := eachFile(fsys, policyFile, read,
		func(name string, data []byte, err error) {
			if err != nil {
				l.errorf(Pos{File: name}, "reading: %v", err)
				return
			}
			switch kindOfFile(name) {
			case fileYAML:
				if cache != nil {
					cache.yamlFile(l, name, data)
				} else {
					l.yamlFile(name, data)
				}
			case fileRegoTest:
				l.set.Tests[name] = string(data)
			default:
				l.set.Modules[name] = string(data)
			}
		})
	if err != nil {
		return nil, nil, fmt.Errorf("reading policy directory: %w", err)
	}
	if cache != nil {
		cache.prune()
	}
	l.addExtra(extras)
	l.finish()
	return l.set, l.problems, nil
}

// eachFile calls fn with the contents of every file of fsys that keep
// accepts, in lexical order, skipping hidden files and folders (names that
// start with "."). A file that cannot be read comes with the error instead.
func eachFile(fsys fs.FS, keep func(name string) bool, read func(fs.FS, string) ([]byte, error), fn func(name string, data []byte, err error)) error {
	return fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !keep(name) {
			return nil
		}
		data, err := read(fsys, name)
		fn(name, data, err)
		return nil
	})
}

type fileKind int

const (
	fileOther fileKind = iota
	fileYAML
	fileSamples
	fileRego
	fileRegoTest
)

// IsSampleFile reports whether a file holds sample requests (LoadSamples)
// rather than objects.
func IsSampleFile(name string) bool { return kindOfFile(name) == fileSamples }

func kindOfFile(name string) fileKind {
	base := path.Base(name)
	switch {
	case base == "samples.yaml" || strings.HasSuffix(base, ".samples.yaml"):
		return fileSamples
	case strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml"):
		return fileYAML
	case strings.HasSuffix(base, "_test.rego"):
		return fileRegoTest
	case strings.HasSuffix(base, ".rego"):
		return fileRego
	}
	return fileOther
}

type loader struct {
	where    string // " in the policy directory", or "" for the API server's objects
	set      *Set
	problems Problems
	seen     map[string]Pos // kind/namespace/name -> where defined
	podIP    map[netip.Addr]Pos
	regoRefs []regoRef
	// rec, while a YAML file is read for a Cache, collects what reading it
	// did (problems found, objects handed on), to replay when the file has
	// not changed.
	rec *[]func(*loader)
}

// do runs f, recording it when a file is being recorded.
func (l *loader) do(f func(*loader)) {
	if l.rec != nil {
		*l.rec = append(*l.rec, f)
	}
	f(l)
}

// rerrorf and rwarnf report a problem found while reading a file: recorded
// with the file, since it depends on the file's bytes alone.
func (l *loader) rerrorf(pos Pos, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.do(func(l *loader) { l.errorf(pos, "%s", msg) })
}

func (l *loader) rwarnf(pos Pos, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.do(func(l *loader) { l.warnf(pos, "%s", msg) })
}

// regoRef is a policy's reference to a Rego module elsewhere: a file, or a
// ConfigMap ("namespace/name") key.
type regoRef struct {
	pos            Pos
	policy         string
	file           string
	configMap, key string
}

func (l *loader) errorf(pos Pos, format string, args ...any) {
	l.problems = append(l.problems, Problem{Pos: pos, Severity: SeverityError, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warnf(pos Pos, format string, args ...any) {
	l.problems = append(l.problems, Problem{Pos: pos, Severity: SeverityWarning, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) yamlFile(name string, data []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			l.rerrorf(Pos{File: name, Line: errLine(err)}, "parsing YAML: %v", err)
			return
		}
		if len(doc.Content) == 0 || isNull(doc.Content[0]) {
			continue // empty document
		}
		l.object(name, doc.Content[0])
	}
}

func (l *loader) object(file string, n *yaml.Node) {
	pos := Pos{File: file, Line: n.Line}
	if n.Kind != yaml.MappingNode {
		l.rerrorf(pos, "document is not a Kubernetes object (a mapping with apiVersion and kind)")
		return
	}
	apiVersion, kind := scalar(n, "apiVersion"), scalar(n, "kind")
	switch {
	case kind == "List" || strings.HasSuffix(kind, "List") && mapValue(n, "items") != nil:
		items := mapValue(n, "items")
		if items == nil || isNull(items) {
			return
		}
		if items.Kind != yaml.SequenceNode {
			l.rerrorf(Pos{File: file, Line: items.Line}, "items is not a list")
			return
		}
		for _, item := range items.Content {
			l.object(file, item)
		}
	case apiVersion == "v1" && kind == "Namespace":
		var ns corev1.Namespace
		if l.decode(pos, n, &ns, false) {
			l.do(func(l *loader) { l.namespace(pos, ns.DeepCopy()) })
		}
	case apiVersion == "v1" && kind == "Pod":
		var pod corev1.Pod
		if l.decode(pos, n, &pod, false) {
			l.do(func(l *loader) { l.pod(pos, pod.DeepCopy()) })
		}
	case apiVersion == "v1" && kind == "ConfigMap":
		var cm corev1.ConfigMap
		if l.decode(pos, n, &cm, false) {
			if cm.Namespace == "" {
				cm.Namespace = DefaultNamespace
			}
			l.do(func(l *loader) {
				if l.first(pos, "ConfigMap", cm.Namespace, cm.Name) {
					l.set.ConfigMaps = append(l.set.ConfigMaps, *cm.DeepCopy())
				}
			})
		}
	case kind == v1alpha1.Kind && apiVersion != v1alpha1.GroupVersion.String():
		l.rerrorf(pos, "%s: unsupported apiVersion %q (want %s)", kind, apiVersion, v1alpha1.GroupVersion)
	case kind == v1alpha1.Kind:
		var p v1alpha1.L7NetworkPolicy
		if l.decode(pos, n, &p, true) {
			c := checkPolicy(pos, n, &p)
			l.do(func(l *loader) { l.policy(c) })
		}
	case kind == v1alpha1.KindHTTPMonitor && apiVersion != v1alpha1.GroupVersion.String():
		l.rerrorf(pos, "%s: unsupported apiVersion %q (want %s)", kind, apiVersion, v1alpha1.GroupVersion)
	case kind == v1alpha1.KindHTTPMonitor:
		var m v1alpha1.HTTPMonitor
		if l.decode(pos, n, &m, true) {
			l.do(func(l *loader) { l.monitor(pos, n, m.DeepCopy()) })
		}
	case apiVersion == "" || kind == "":
		l.rerrorf(pos, "document has no apiVersion or kind")
	default:
		l.rwarnf(pos, "skipping %s %s: standalone mode reads v1 Namespace, Pod and ConfigMap, and %s %s and %s", apiVersion, kind, v1alpha1.GroupVersion, v1alpha1.Kind, v1alpha1.KindHTTPMonitor)
	}
}

// decode converts one YAML node into a typed object. Policies are decoded
// strictly (an unknown field is a typo that would silently widen a rule);
// cluster objects leniently, as newer servers add fields.
func (l *loader) decode(pos Pos, n *yaml.Node, into any, strict bool) bool {
	data, err := yaml.Marshal(n)
	if err == nil {
		if strict {
			err = sigsyaml.UnmarshalStrict(data, into)
		} else {
			err = sigsyaml.Unmarshal(data, into)
		}
	}
	if err != nil {
		if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
			if k := findKey(n, m[1][strings.LastIndexByte(m[1], '.')+1:]); k != nil {
				pos.Line = k.Line
			}
		} else if line := errLine(err); line > 0 {
			pos.Line += line - 1
		}
		l.rerrorf(pos, "decoding %s: %v", scalar(n, "kind"), err)
		return false
	}
	return true
}

// first records kind/namespace/name and reports a second definition.
func (l *loader) first(pos Pos, kind, namespace, name string) bool {
	if name == "" {
		l.errorf(pos, "%s has no metadata.name", kind)
		return false
	}
	key := kind + "/" + namespace + "/" + name
	if prev, ok := l.seen[key]; ok {
		l.errorf(pos, "%s %s defined twice (first at %s)", kind, strings.TrimPrefix(namespace+"/"+name, "/"), prev)
		return false
	}
	l.seen[key] = pos
	return true
}

func (l *loader) namespace(pos Pos, ns *corev1.Namespace) {
	if !l.first(pos, "Namespace", "", ns.Name) {
		return
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[LabelNamespaceName] = ns.Name
	l.set.Namespaces = append(l.set.Namespaces, *ns)
}

func (l *loader) pod(pos Pos, pod *corev1.Pod) {
	if pod.Namespace == "" {
		pod.Namespace = DefaultNamespace
	}
	if !l.first(pos, "Pod", pod.Namespace, pod.Name) {
		return
	}
	if !ownsIP(pod) {
		// Host-network pods share their node's IP and finished pods hand
		// theirs on: neither is a source or endpoint of its own (the
		// compiler ignores them too).
		l.set.Pods = append(l.set.Pods, *pod)
		return
	}
	ips := []string{pod.Status.PodIP}
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	known := false
	for _, s := range ips {
		if s == "" {
			continue
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			l.errorf(pos, "pod %s/%s: bad IP %q in status", pod.Namespace, pod.Name, s)
			return
		}
		if prev, ok := l.podIP[ip]; ok && prev != pos {
			l.errorf(pos, "pod %s/%s: IP %s is already the IP of the pod at %s", pod.Namespace, pod.Name, ip, prev)
			return
		}
		l.podIP[ip] = pos
		known = true
	}
	if !known {
		l.warnf(pos, "pod %s/%s has no status.podIP: it is neither a known source nor a policed endpoint", pod.Namespace, pod.Name)
	}
	l.set.Pods = append(l.set.Pods, *pod)
}

// checkedPolicy is a decoded policy with what checking it alone found: the
// part of reading it that depends on its file's bytes only, done once per
// version of the file (a Cache replays it).
type checkedPolicy struct {
	pos      Pos
	p        *v1alpha1.L7NetworkPolicy // defaulted and annotated
	valid    bool
	problems Problems
	refs     []regoRef
	version  string // of a valid p: contentVersion
}

// checkPolicy defaults, validates and annotates p, decoded from n at pos.
func checkPolicy(pos Pos, n *yaml.Node, p *v1alpha1.L7NetworkPolicy) *checkedPolicy {
	c := &checkedPolicy{pos: pos, p: p}
	if p.Namespace == "" {
		p.Namespace = DefaultNamespace
	}
	if p.Name == "" {
		return c // first() reports it
	}
	v1alpha1.Default(p)
	id := p.Namespace + "/" + p.Name
	line := func(fieldPath string) Pos { return Pos{File: pos.File, Line: lineOf(n, fieldPath)} }
	warnf := func(pos Pos, format string, args ...any) {
		c.problems = append(c.problems, Problem{Pos: pos, Severity: SeverityWarning, Msg: fmt.Sprintf(format, args...)})
	}

	// A key with no value decodes like an omitted one: "from:" with its items
	// commented out would open the rule to every source.
	for i := range p.Spec.Rules {
		for _, key := range []string{"from", "http"} {
			fp := fmt.Sprintf("spec.rules[%d].%s", i, key)
			if v := nodeAt(n, fp); isNull(v) {
				warnf(line(fp), "policy %s: %s is null, which means the same as omitting it (any %s); write %s: [] to match nothing",
					id, fp, map[string]string{"from": "source", "http": "request"}[key], key)
			}
		}
	}

	errs, warns := validation.ValidatePolicy(p)
	for _, w := range warns {
		fp, _, _ := strings.Cut(w, ": ")
		warnf(line(fp), "policy %s: %s", id, w)
	}
	if len(errs) > 0 {
		for _, e := range errs {
			c.problems = append(c.problems, Problem{Pos: line(e.Field), Severity: SeverityError, Msg: fmt.Sprintf("policy %s: %s", id, e.Error())})
		}
		return c
	}
	c.valid = true
	if r := p.Spec.Rego; r != nil && r.File != "" {
		c.refs = append(c.refs, regoRef{pos: line("spec.rego.file"), file: r.File, policy: id})
	}
	if r := p.Spec.Rego; r != nil && r.ConfigMapRef != nil {
		c.refs = append(c.refs, regoRef{pos: line("spec.rego.configMapRef"), policy: id,
			configMap: p.Namespace + "/" + r.ConfigMapRef.Name, key: r.ConfigMapRef.Key})
	}

	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[v1alpha1.AnnotationOrigin] = pos.String()
	if len(p.Spec.Rules) > 0 {
		origins := make([]string, len(p.Spec.Rules))
		for i := range p.Spec.Rules {
			origins[i] = line("spec.rules[" + strconv.Itoa(i) + "]").String()
		}
		p.Annotations[v1alpha1.AnnotationRuleOrigins] = strings.Join(origins, ",")
	}
	c.version = contentVersion(p)
	return c
}

// policy adds a checked policy to the set unless its name is taken.
func (l *loader) policy(c *checkedPolicy) {
	if !l.first(c.pos, v1alpha1.Kind, c.p.Namespace, c.p.Name) {
		return
	}
	l.problems = append(l.problems, c.problems...)
	if !c.valid {
		return
	}
	l.regoRefs = append(l.regoRefs, c.refs...)
	// Not copied: a Cache replays c at every load while the file is
	// unchanged, and copying a thousand policies was a third of a reload.
	// The Set's policies are read-only (Cache.Load).
	l.set.Policies = append(l.set.Policies, *c.p)
	if c.version != "" {
		if l.set.PolicyVersions == nil {
			l.set.PolicyVersions = map[string]string{}
		}
		l.set.PolicyVersions[c.p.Namespace+"/"+c.p.Name] = c.version
	}
}

// nodeAt returns the node a field path names exactly, or nil.
func nodeAt(root *yaml.Node, fieldPath string) *yaml.Node {
	n := root
	for _, part := range strings.Split(fieldPath, ".") {
		name, idx, _ := strings.Cut(part, "[")
		if n = mapValue(n, name); n == nil {
			return nil
		}
		if idx != "" {
			i, err := strconv.Atoi(strings.TrimSuffix(idx, "]"))
			if err != nil || n.Kind != yaml.SequenceNode || i < 0 || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
		}
	}
	return n
}

// cmpNamespaced orders "namespace/name" strings without building them.
func cmpNamespaced(ans, aname, bns, bname string) int {
	switch {
	case ans == bns:
		return strings.Compare(aname, bname)
	case strings.HasPrefix(bns, ans): // a's "/" against b's next byte
		return cmp.Compare('/', bns[len(ans)])
	case strings.HasPrefix(ans, bns):
		return cmp.Compare(ans[len(bns)], '/')
	}
	return strings.Compare(ans, bns)
}

// finish checks references between files and sorts the set.
func (l *loader) finish() {
	for _, r := range l.regoRefs {
		var msg string
		if r.file != "" {
			if _, ok := l.set.Modules[r.file]; !ok {
				msg = fmt.Sprintf("spec.rego.file %q is not a .rego file of the policy directory", r.file)
				if _, isTest := l.set.Tests[r.file]; isTest {
					msg += " (it is a test file)"
				}
			}
		} else if _, ok := l.set.configMapData(r.configMap, r.key); !ok {
			msg = fmt.Sprintf("spec.rego.configMapRef: no ConfigMap %s with key %q%s", r.configMap, r.key, l.where)
		}
		if msg == "" {
			continue
		}
		l.errorf(r.pos, "policy %s: %s", r.policy, msg)
		l.set.Policies = slices.DeleteFunc(l.set.Policies, func(p v1alpha1.L7NetworkPolicy) bool {
			return p.Namespace+"/"+p.Name == r.policy
		})
		delete(l.set.PolicyVersions, r.policy)
	}

	declared := map[string]bool{}
	for _, ns := range l.set.Namespaces {
		declared[ns.Name] = true
	}
	use := func(ns string, pos Pos) {
		if declared[ns] {
			return
		}
		declared[ns] = true
		l.warnf(pos, "namespace %s is not declared: assuming it has no labels but %s", ns, LabelNamespaceName)
		l.set.Namespaces = append(l.set.Namespaces, corev1.Namespace{})
		last := &l.set.Namespaces[len(l.set.Namespaces)-1]
		last.APIVersion, last.Kind = "v1", "Namespace"
		last.Name = ns
		last.Labels = map[string]string{LabelNamespaceName: ns}
	}
	for _, p := range l.set.Pods {
		use(p.Namespace, l.seen["Pod/"+p.Namespace+"/"+p.Name])
	}
	for _, p := range l.set.Policies {
		use(p.Namespace, l.seen[v1alpha1.Kind+"/"+p.Namespace+"/"+p.Name])
	}

	slices.SortFunc(l.set.Namespaces, func(a, b corev1.Namespace) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(l.set.ConfigMaps, func(a, b corev1.ConfigMap) int {
		return cmpNamespaced(a.Namespace, a.Name, b.Namespace, b.Name)
	})
	slices.SortFunc(l.set.Pods, func(a, b corev1.Pod) int {
		return cmpNamespaced(a.Namespace, a.Name, b.Namespace, b.Name)
	})
	slices.SortFunc(l.set.Policies, func(a, b v1alpha1.L7NetworkPolicy) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	slices.SortStableFunc(l.problems, func(a, b Problem) int {
		if c := strings.Compare(a.Pos.File, b.Pos.File); c != 0 {
			return c
		}
		return a.Pos.Line - b.Pos.Line
	})
}

// configMapData returns the value of key in the ConfigMap "namespace/name".
func (s *Set) configMapData(nsName, key string) (string, bool) {
	for _, cm := range s.ConfigMaps {
		if cm.Namespace+"/"+cm.Name == nsName {
			v, ok := cm.Data[key]
			return v, ok
		}
	}
	return "", false
}

// ownsIP reports whether a pod's status IPs are its own: host-network pods
// share their node's IP and finished pods hand theirs on.
func ownsIP(pod *corev1.Pod) bool {
	return !pod.Spec.HostNetwork && pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed
}
