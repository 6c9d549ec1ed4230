package datapath

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/axon-dev/axon/bpf"
	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/rlimit"
)

// Settle is how long Apply waits after a generation flip before it writes
// into the generation that was active: longer than any program run that may
// still be reading it.
const Settle = 10 * time.Millisecond

type options struct {
	pinDir    string
	maxFlows  uint32
	maxDenial uint32
	eventRate uint32
	gapSlack  time.Duration
	noReflect bool
	noHash    bool
	logLevel  ebpf.LogLevel
	limits    Limits // over TableLimits
	sides     ClientSide
}

// Option configures Open.
type Option func(*options)

// WithPinDir pins the maps under dir (a bpffs directory) and reuses maps
// already pinned there, so that tables, flows and counters survive a
// restart of the agent. Decision maps pinned with other sizes than the
// limits ask for are replaced by maps of the new sizes holding the table in
// force (resize.go).
func WithPinDir(dir string) Option { return func(o *options) { o.pinDir = dir } }

// WithMaxFlows sets the capacity of the flow table: connections to policed
// endpoints open at once. When it is full, new connections to enforced
// endpoints are refused (their data is reset) until expiry makes room.
func WithMaxFlows(n uint32) Option { return func(o *options) { o.maxFlows = n } }

// WithMaxDenials sets how many distinct denial tuples the datapath keeps
// (MaxDenials by default); requests of further tuples are counted per rule
// and verdict only.
func WithMaxDenials(n uint32) Option { return func(o *options) { o.maxDenial = n } }

// WithEventRate sets how many deny/audit events per second and CPU the
// datapath may send (0: none).
func WithEventRate(n uint32) Option { return func(o *options) { o.eventRate = n } }

// WithGapSlack sets how long after an audit gap (docs/security.md, class
// 34) a new connection to its destination still counts as open at it, and
// is refused once the destination is enforced: at least the servers' SYN
// RECV time (DefaultGapSlack).
func WithGapSlack(d time.Duration) Option { return func(o *options) { o.gapSlack = d } }

// DefaultGapSlack covers a server's SYN_RECV with Linux's default 5 SYN-ACK
// retries (63 s).
const DefaultGapSlack = 75 * time.Second

// WithoutClientReset makes a deny reset only the server side: the client
// gets no RST (for tests that run the program without a device).
func WithoutClientReset() Option { return func(o *options) { o.noReflect = true } }

// WithoutPathHash writes no path_hash entries: every path decision walks
// the paths LPM trie. That saves a path_hash entry (about 250-300 bytes of
// kernel memory) per hashed row, for about 500 ns more per request at
// 10,000 rows (bpf/README.md).
func WithoutPathHash() Option { return func(o *options) { o.noHash = true } }

// ClientSide names a client-to-server program: the TCP normalizer and
// stream parser, loaded once per hook direction.
type ClientSide uint8

const (
	// IngressSide is axon_ingress, for a device whose ingress carries
	// client-to-server traffic.
	IngressSide ClientSide = 1 << iota
	// EgressSide is axon_egress, for a device whose egress carries it (the
	// host side of a pod's veth: what the agent attaches).
	EgressSide
	// BothSides loads both (Open's default).
	BothSides = IngressSide | EgressSide
)

// WithClientSides loads only these client-to-server programs; the method of
// one not loaded returns nil. Both are the same parser and the kernel
// verifies each (about 45 % of Open's time each: 527,000 instructions on
// 6.18), so a caller that attaches one asks for that one. axon_reply is
// always loaded.
func WithClientSides(s ClientSide) Option { return func(o *options) { o.sides = s } }

// WithVerifierLog asks for verifier statistics in load errors.
func WithVerifierLog(l ebpf.LogLevel) Option { return func(o *options) { o.logLevel = l } }

// Datapath is the loaded TC programs and their maps.
type Datapath struct {
	objs bpf.AxonObjects

	mu     sync.Mutex
	closed bool
	active uint8         // generation the programs read
	held   [2]generation // what each generation's entries are
	// plans are the path rows each generation's paths entries were
	// written from (nil: not known, e.g. read back from pinned maps).
	plans [2]*pathPlan
	// unknown: a generation whose entries could not be read back after a
	// failed write; Apply reads it again before writing into it.
	unknown  [2]bool
	lastFlip time.Time
	maxRule  uint32 // highest rule ID applied (bounds counter reads)
	// openedPolicing: at Open, the active generation policed some endpoint.
	openedPolicing bool
	// trieLens is the most prefix lengths of a trie in path_hash (at most
	// maxTrieLens; 0: none there). Tests lower it to mix both lookups.
	trieLens int
}

// Open loads the programs and maps into the kernel (or reuses pinned maps)
// and reads back what the decision maps hold.
func Open(opts ...Option) (*Datapath, error) {
	o := options{eventRate: 1000, gapSlack: DefaultGapSlack, sides: BothSides}
	for _, f := range opts {
		f(&o)
	}
	if o.sides&BothSides == 0 {
		return nil, errors.New("opening datapath: no client-to-server program chosen")
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising the memlock limit: %w", err)
	}
	spec, err := bpf.LoadAxon()
	if err != nil {
		return nil, fmt.Errorf("loading datapath spec: %w", err)
	}
	if err := spec.Variables["cfg_event_rate"].Set(o.eventRate); err != nil {
		return nil, fmt.Errorf("setting event rate: %w", err)
	}
	if err := spec.Variables["cfg_gap_slack_ns"].Set(uint64(o.gapSlack)); err != nil {
		return nil, fmt.Errorf("setting audit gap slack: %w", err)
	}
	reflect := uint32(1)
	if o.noReflect {
		reflect = 0
	}
	if err := spec.Variables["cfg_reflect_rst"].Set(reflect); err != nil {
		return nil, fmt.Errorf("setting client reset: %w", err)
	}
	if o.maxFlows > 0 {
		spec.Maps[bpf.AxonMapFlows].MaxEntries = o.maxFlows
	}
	if o.maxDenial > 0 {
		spec.Maps[bpf.AxonMapDenials].MaxEntries = o.maxDenial
	}
	if err := o.limits.check(); err != nil {
		return nil, err
	}
	lim, err := TableLimits()
	if err != nil {
		return nil, err
	}
	for name, n := range lim.with(o.limits) {
		spec.Maps[name].MaxEntries = uint32(2 * n)
	}
	copts := &ebpf.CollectionOptions{Programs: ebpf.ProgramOptions{LogLevel: o.logLevel}}
	var resized *resizeSet
	if o.pinDir != "" {
		copts.Maps.PinPath = o.pinDir
		if resized, err = resizePinned(spec, o.pinDir); err != nil {
			return nil, fmt.Errorf("resizing pinned maps: %w", err)
		}
		defer resized.close()
		copts.MapReplacements = resized.replacements()
	} else {
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinNone
		}
	}
	d := &Datapath{trieLens: maxTrieLens}
	if o.noHash {
		d.trieLens = 0
	}
	if o.sides&IngressSide == 0 {
		delete(spec.Programs, "axon_ingress")
	}
	if o.sides&EgressSide == 0 {
		delete(spec.Programs, "axon_egress")
	}
	if err := load(spec, copts, &d.objs); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("loading tc programs: %+v", ve)
		}
		if errors.Is(err, ebpf.ErrMapIncompatible) {
			return nil, fmt.Errorf("loading tc programs: maps pinned under %s have another layout (another version of the datapath) or another --max-flows; remove them (axon-agent cleanup) to start afresh: %w", o.pinDir, err)
		}
		return nil, fmt.Errorf("loading tc programs: %w", err)
	}
	if resized != nil {
		if err := resized.pin(); err != nil {
			d.objs.Close()
			return nil, err
		}
	}
	if err := d.readBack(); err != nil {
		d.objs.Close()
		return nil, err
	}
	return d, nil
}

// readBack learns the active generation and each generation's entries from
// the maps (empty when fresh, an earlier agent's when pinned).
func (d *Datapath) readBack() error {
	var cfg bpf.AxonAxConfig
	if err := d.objs.Config.Lookup(uint32(0), &cfg); err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	d.active = uint8(cfg.ActiveGen & 1)
	d.held = [2]generation{newGeneration(), newGeneration()}
	for _, dm := range decisionMaps {
		m := d.mapByName(dm.name)
		var k, v []byte
		it := m.Iterate()
		for it.Next(&k, &v) {
			gen, ok := keyGen(dm.genOff, k)
			if !ok {
				continue
			}
			d.held[gen][dm.name][string(k)] = append([]byte(nil), v...)
		}
		if err := it.Err(); err != nil {
			return fmt.Errorf("reading map %s: %w", dm.name, err)
		}
	}
	d.openedPolicing = len(d.held[d.active][bpf.AxonMapEndpoints]) > 0
	return nil
}

// OpenedPolicing reports whether, when Open read the maps back, their active
// generation policed some endpoint: with pinned maps, whether the policy of
// an earlier agent was in force.
func (d *Datapath) OpenedPolicing() bool { return d.openedPolicing }

func (d *Datapath) mapByName(name string) *ebpf.Map {
	switch name {
	case bpf.AxonMapPolicedPorts:
		return d.objs.PolicedPorts
	case bpf.AxonMapEndpoints:
		return d.objs.Endpoints
	case bpf.AxonMapPodIps:
		return d.objs.PodIps
	case bpf.AxonMapCidrs:
		return d.objs.Cidrs
	case bpf.AxonMapClasses:
		return d.objs.Classes
	case bpf.AxonMapMethods:
		return d.objs.Methods
	case bpf.AxonMapPaths:
		return d.objs.Paths
	case bpf.AxonMapPathHash:
		return d.objs.PathHash
	case bpf.AxonMapPathLens:
		return d.objs.PathLens
	case bpf.AxonMapGlobs:
		return d.objs.Globs
	}
	panic("datapath: unknown map " + name)
}

// Ingress is the program for a device whose ingress carries
// client-to-server traffic (nil unless Open loaded it: WithClientSides).
func (d *Datapath) Ingress() *ebpf.Program { return d.objs.AxonIngress }

// Egress is the program for a device whose egress carries client-to-server
// traffic (the host side of a pod's veth; nil unless Open loaded it).
func (d *Datapath) Egress() *ebpf.Program { return d.objs.AxonEgress }

// Reply is the program for the other direction of the same device (the
// server's replies): without it no connection is ever let through to an
// enforced endpoint, since flows start at the server's SYN-ACK.
func (d *Datapath) Reply() *ebpf.Program { return d.objs.AxonReply }

// Close releases the programs and maps (pinned maps and attached programs
// stay in the kernel).
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.objs.Close()
}
