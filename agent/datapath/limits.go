package datapath

import (
	"flag"
	"fmt"
	"sync"

	"github.com/axon-dev/axon/bpf"
)

// Limits are how many entries of each decision map one table may use, by
// map name: half of each map, since the table in force and the next one
// share it (policy_maps.h rule 1), so that any table that loads can also be
// replaced by another of its size. Open sizes the maps at twice the limits.
type Limits map[string]int

// MaxLimit is the largest limit a flag or WithLimits accepts (entries of one
// table in one map; the map holds twice as many) for an LPM trie map.
const MaxLimit = 1 << 28

// MaxHashLimit is the largest limit of a hash map: the kernel refuses a
// hash map of more than 2^27 entries (its bucket array must stay under
// 4 GiB), and the map holds twice the limit.
const MaxHashLimit = 1 << 26

// hashMaps are the resizable decision maps that are hash maps (the others
// are LPM tries); TestLimitBoundsFollowMapTypes keeps it in step with the
// object.
var hashMaps = map[string]bool{bpf.AxonMapClasses: true, bpf.AxonMapPodIps: true, bpf.AxonMapPathHash: true, bpf.AxonMapPathLens: true}

// sizedAs are the decision maps that take the limit of another: path_hash
// and path_lens hold at most as many entries as paths (policy_maps.h rule
// 6).
var sizedAs = map[string]string{bpf.AxonMapPathHash: bpf.AxonMapPaths, bpf.AxonMapPathLens: bpf.AxonMapPaths}

// maxLimitOf is the largest limit map name takes: a hash map's, if it or a
// map sized as it is one.
func maxLimitOf(name string) int {
	hash := hashMaps[name]
	for f, leader := range sizedAs {
		hash = hash || leader == name && hashMaps[f]
	}
	if hash {
		return MaxHashLimit
	}
	return MaxLimit
}

// LimitFlag is an operator setting that sizes one decision map, named after
// what a user counts in a table (the --max-* flags of axon-agent, axon policy
// compile and axon-webhook).
type LimitFlag struct {
	Name  string // the flag, without dashes
	Map   string // the decision map it sizes
	Usage string
}

// LimitFlags are the maps a large policy set outgrows; the others (endpoints,
// CIDRs, methods, globs) keep the object's sizes.
var LimitFlags = []LimitFlag{
	{"max-path-rows", bpf.AxonMapPaths, "path rows (endpoint x source class x method x path) one policy table may hold; the paths map holds twice as many"},
	{"max-source-classes", bpf.AxonMapClasses, "source classes (endpoint x identity) one policy table may hold; the classes map holds twice as many"},
	{"max-pod-ips", bpf.AxonMapPodIps, "pod addresses one policy table may hold; the pod_ips map holds twice as many"},
}

// flagFor is the flag that sizes map m ("" if none).
func flagFor(m string) string {
	for _, f := range LimitFlags {
		if f.Map == m {
			return f.Name
		}
	}
	return ""
}

var (
	defaultsOnce sync.Once
	defaults     Limits
	defaultsErr  error

	procMu     sync.Mutex
	procLimits Limits // set by SetLimits
)

// DefaultLimits reads the decision maps' capacities from the datapath
// object (bpf/include/map_sizing.h): the limits when no flag is given.
func DefaultLimits() (Limits, error) {
	defaultsOnce.Do(func() {
		spec, err := bpf.LoadAxon()
		if err != nil {
			defaultsErr = fmt.Errorf("reading map sizes: %w", err)
			return
		}
		defaults = Limits{}
		for _, m := range decisionMaps {
			if m.genOff < 0 {
				continue // policed_ports: fixed, one word per port
			}
			ms, ok := spec.Maps[m.name]
			if !ok {
				defaultsErr = fmt.Errorf("reading map sizes: no map %s", m.name)
				return
			}
			defaults[m.name] = int(ms.MaxEntries) / 2
		}
	})
	return defaults.with(nil), defaultsErr
}

// TableLimits are the limits of this process: the defaults, with what
// SetLimits set over them. Fit checks them and Open sizes the maps by them
// (unless given WithLimits).
func TableLimits() (Limits, error) {
	lim, err := DefaultLimits()
	if err != nil {
		return nil, err
	}
	procMu.Lock()
	defer procMu.Unlock()
	return lim.with(procLimits), nil
}

// SetLimits sets the limits of this process over the defaults (the --max-*
// flags): Fit then checks tables against them and Open sizes the maps by
// them, so that what the agent accepts is what its maps hold.
func SetLimits(l Limits) error {
	if err := l.check(); err != nil {
		return err
	}
	procMu.Lock()
	defer procMu.Unlock()
	procLimits = Limits{}.with(l)
	return nil
}

// with returns a copy of l with the entries of over replacing its own.
func (l Limits) with(over Limits) Limits {
	out := Limits{}
	for k, v := range l {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	for f, leader := range sizedAs {
		if v, ok := over[leader]; ok {
			out[f] = v
		}
	}
	return out
}

// check refuses limits of unknown or fixed maps and out of range values.
func (l Limits) check() error {
	for name, n := range l {
		known := false
		for _, m := range decisionMaps {
			known = known || (m.name == name && m.genOff >= 0)
		}
		if _, follows := sizedAs[name]; !known || follows {
			return fmt.Errorf("limit of map %q: not a resizable decision map", name)
		}
		if max := maxLimitOf(name); n < 1 || n > max {
			what := "map " + name
			if f := flagFor(name); f != "" {
				what = "--" + f
			}
			return fmt.Errorf("%s %d: want 1 to %d", what, n, max)
		}
	}
	return nil
}

// WithLimits sizes the decision maps at twice l (over the process's
// limits, TableLimits). Maps pinned with other sizes are replaced (Open).
func WithLimits(l Limits) Option { return func(o *options) { o.limits = l } }

// RegisterLimitFlagsToSet is RegisterLimitFlags for a process that only
// sets the limits: the returned function, called after fs.Parse, passes
// them to SetLimits.
func RegisterLimitFlagsToSet(fs *flag.FlagSet) func() error {
	get := RegisterLimitFlags(fs)
	return func() error {
		l, err := get()
		if err != nil {
			return err
		}
		return SetLimits(l)
	}
}

// RegisterLimitFlags adds the LimitFlags to fs, defaulting to the object's
// sizes. The returned function, called after fs.Parse, gives the limits
// set on the command line (nil when none was given).
func RegisterLimitFlags(fs *flag.FlagSet) func() (Limits, error) {
	def, err := DefaultLimits()
	vals := make([]*int, len(LimitFlags))
	for i, f := range LimitFlags {
		vals[i] = fs.Int(f.Name, def[f.Map], f.Usage+" (raise it when a table is refused for its size; kernel and agent memory: agent/README.md, Map sizes)")
	}
	return func() (Limits, error) {
		if err != nil {
			return nil, err
		}
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		var l Limits
		for i, f := range LimitFlags {
			if set[f.Name] {
				if l == nil {
					l = Limits{}
				}
				l[f.Map] = *vals[i]
			}
		}
		if err := l.check(); err != nil {
			return nil, err
		}
		return l, nil
	}
}

// Limits are the limits of the maps d loaded: half of each decision map.
func (d *Datapath) Limits() Limits {
	l := Limits{}
	for _, m := range decisionMaps {
		if m.genOff >= 0 {
			l[m.name] = int(d.mapByName(m.name).MaxEntries()) / 2
		}
	}
	return l
}
