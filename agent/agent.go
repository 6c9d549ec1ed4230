package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/audit"
	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/agent/metrics"
	"github.com/axon-dev/axon/agent/stream"
	"github.com/axon-dev/axon/policy/source"
	"github.com/axon-dev/axon/policy/table"
	"github.com/prometheus/client_golang/prometheus"
)

// Datapath is what the agent drives in agent/datapath: the loaded programs,
// atomic table updates and the counters behind the metrics.
type Datapath interface {
	Programs() attach.Programs
	// Apply writes t into the maps so that every request is decided either
	// wholly by the previous table or wholly by t.
	Apply(t *table.Table) error
	// Counters reads the cumulative BPF counters.
	Counters() (datapath.Counters, error)
	// PinnedPolicy reports whether maps pinned by an earlier agent already
	// police traffic: a policy set is in force before the first Apply.
	PinnedPolicy() bool
}

// Loader reads and compiles a policy directory, keeping IDs of the previous
// table where it can. files, which may be nil, holds files of dir already
// read (by the folder watcher, to fingerprint it), by slash-separated path
// relative to dir: their bytes are taken instead of reading them again. On
// error no table is returned; a *LoadError names the broken files. Warnings
// are logged. NewDirLoader returns the real one.
type Loader func(dir string, files map[string][]byte, prev *table.Table) (t *table.Table, warnings []string, err error)

// Config configures an Agent.
type Config struct {
	PolicyDir  string
	Interfaces []string // --attach; in cluster mode the local pods' interfaces are added
	// Source, when set, is read instead of PolicyDir (cluster mode: the API
	// server). A NodeSource also names the node's pods to attach in front of.
	Source       Source
	MetricsAddr  string
	PinDir       string
	AttachMode   attach.Mode
	PollInterval time.Duration // safety-net poll of the policy dir behind inotify; watch.DefaultInterval if zero
	RetryAttach  time.Duration // retry period for failed attachments; 1s if zero
	RetryApply   time.Duration // first retry of a table the maps rejected; doubles up to maxRetryApply; 1s if zero
	LogDecisions bool          // log every deny and audit_deny event (off: count only)
	Logger       *slog.Logger
	// Reloads asks for a reload of the policy set besides changes of the
	// directory, e.g. when an OPA bundle the loader adds changed (nil: none).
	Reloads <-chan struct{}
	// Objects reads the Pods and HTTPMonitors the source holds, for the
	// labels of denial series (nil: the policy directory's). files, which
	// may be nil, are files of the policy directory already read, as a
	// Loader takes them.
	Objects func(files map[string][]byte) (*source.Set, source.Problems, error)
}

var (
	// ErrNotAttached is the readiness error while some attachment is missing.
	ErrNotAttached = errors.New("programs not attached")
	// ErrNoPolicy is the readiness error until a policy set is in the maps.
	ErrNoPolicy = errors.New("no policy set applied yet")
	// ErrNoPodInterface (cluster mode): a pod of this node has no interface
	// here holding its IP, so nothing is attached in front of it.
	ErrNoPodInterface = errors.New("no interface found for the pod IP")
)

// Agent is a running node agent.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	dp   Datapath
	src  Source
	node NodeSource // src, when it knows the node's pods (cluster mode)
	att  *attach.Attacher
	ctr  *counterState
	reg  *prometheus.Registry
	m    *metrics.Agent
	hub  *stream.Hub // GET /v1/events

	started  time.Time
	denials  DenialSource // nil when the datapath has no tallies
	denialMu sync.Mutex   // one read of the tallies at a time
	tally    *audit.Tally
	marks    policyMarks                 // when each policy last changed, for reports
	pods     atomic.Pointer[audit.Index] // pods of the policy directory, for labels
	objFiles *source.Cache               // decoded files of the policy directory, for reloadPods

	refreshMu sync.Mutex // one refreshPodInterfaces at a time
	flipMu    sync.Mutex // a table flip (Apply) never comes between an attach and its sweep of unpoliced flows
	// attachMu: one attach or attachment check at a time, so that no check
	// comes between an attach and the recording of its hooks' revisions.
	attachMu sync.Mutex

	mu         sync.Mutex
	ifaces     []string              // attached interfaces: Config.Interfaces, then local pods' (cluster mode)
	unresolved int                   // local pods whose interface was not found at the last look
	podIfaceOf map[netip.Addr]string // local pod IP -> its interface, as last found
	attachErrs map[string]error      // "iface/direction" -> why not attached; nil entry = attached
	attachMode map[string]string     // "iface/direction" -> mode label of its axon_attached series
	podIfaces  map[string]error      // interface -> why no pod is recorded behind it (nil: recorded)
	veths      string                // the node's veth ifindexes at the last check (vethsChanged)
	applied    bool
	lastFP     string
	table      *table.Table
	generation uint64
	fatal      error // the datapath cannot enforce at all

	dirFailing atomic.Bool // the policy directory could not be read
}

// New prepares an agent; Run starts it.
func New(cfg Config, dp Datapath, load Loader) (*Agent, error) {
	src := cfg.Source
	if src == nil {
		if cfg.PolicyDir == "" {
			return nil, errors.New("agent: no policy directory")
		}
		src = &dirSource{dir: cfg.PolicyDir, interval: cfg.PollInterval, load: load}
	}
	node, _ := src.(NodeSource)
	if len(cfg.Interfaces) == 0 && node == nil {
		return nil, errors.New("agent: no interfaces to attach to")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryAttach <= 0 {
		cfg.RetryAttach = time.Second
	}
	if cfg.RetryApply <= 0 {
		cfg.RetryApply = time.Second
	}
	att, err := attach.New(attach.Config{PinDir: cfg.PinDir, Mode: cfg.AttachMode, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, dp: dp, src: src, node: node, att: att, attachErrs: map[string]error{},
		attachMode: map[string]string{}, podIfaces: map[string]error{}, ifaces: slices.Clone(cfg.Interfaces),
		started: time.Now(), tally: audit.NewTally(), objFiles: source.NewCache()}
	var msrc metrics.Source
	if dp != nil {
		a.ctr = newCounterState(dp.Counters)
		if err := a.ctr.prime(); err != nil {
			return nil, fmt.Errorf("reading datapath counters: %w", err)
		}
		msrc = a.ctr
		if err := a.initAudit(); err != nil {
			// Enforcement does not depend on them: run without.
			cfg.Logger.Error("reading denial tallies failed; axon_policy_denied_requests_total and /v1/denials stay empty", "error", err)
		}
	}
	a.reg, a.m = metrics.New(msrc)
	a.hub = stream.NewHub(a.m.StreamMissed)
	if a.denials != nil {
		a.reg.MustRegister(&audit.Collector{Tally: a.tally, Refresh: a.refreshDenials})
	}
	for _, ifc := range cfg.Interfaces {
		for _, d := range attach.Directions {
			a.attachErrs[ifc+"/"+string(d)] = ErrNotAttached
		}
	}
	return a, nil
}

// Registry returns the agent's metrics registry.
func (a *Agent) Registry() *prometheus.Registry { return a.reg }

// Ready returns nil when every interface has the programs attached and a
// policy set is in the maps, else the reasons it is not.
func (a *Agent) Ready() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.readyLocked()
}

func (a *Agent) readyLocked() error {
	if a.fatal != nil {
		return a.fatal
	}
	var errs []error
	for _, ifc := range a.ifaces {
		for _, d := range attach.Directions {
			if err := a.attachErrs[ifc+"/"+string(d)]; err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", ifc, d, err))
			}
		}
	}
	if a.unresolved > 0 {
		errs = append(errs, fmt.Errorf("%d local pods: %w", a.unresolved, ErrNoPodInterface))
	}
	if !a.applied {
		errs = append(errs, ErrNoPolicy)
	}
	return errors.Join(errs...)
}

// Fail marks the agent as unable to enforce (e.g. the datapath could not be
// loaded): readiness fails with err and the enforcing gauge stays 0.
func (a *Agent) Fail(err error) {
	a.mu.Lock()
	a.fatal = err
	a.mu.Unlock()
	a.m.Enforcing.Set(0)
	a.log.Error("cannot enforce policy", "error", err)
}

func (a *Agent) generationNow() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.generation
}

// Table returns the table in force (nil before the first apply).
func (a *Agent) Table() *table.Table {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.table
}
