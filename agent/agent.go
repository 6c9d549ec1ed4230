package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/datapath"
	"github.com/axon-dev/axon/agent/metrics"
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
// table where it can. On error no table is returned; a *LoadError names the
// broken files. Warnings are logged. LoadDir is the real one.
type Loader func(dir string, prev *table.Table) (t *table.Table, warnings []string, err error)

// Config configures an Agent.
type Config struct {
	PolicyDir    string
	Interfaces   []string
	MetricsAddr  string
	PinDir       string
	AttachMode   attach.Mode
	PollInterval time.Duration // policy dir polling; watch.DefaultInterval if zero
	RetryAttach  time.Duration // retry period for failed attachments; 1s if zero
	RetryApply   time.Duration // first retry of a table the maps rejected; doubles up to maxRetryApply; 1s if zero
	LogDecisions bool          // log every deny and audit_deny event (off: count only)
	Logger       *slog.Logger
}

var (
	// ErrNotAttached is the readiness error while some attachment is missing.
	ErrNotAttached = errors.New("programs not attached")
	// ErrNoPolicy is the readiness error until a policy set is in the maps.
	ErrNoPolicy = errors.New("no policy set applied yet")
)

// Agent is a running node agent.
type Agent struct {
	cfg  Config
	log  *slog.Logger
	dp   Datapath
	load Loader
	att  *attach.Attacher
	ctr  *counterState
	reg  *prometheus.Registry
	m    *metrics.Agent

	mu         sync.Mutex
	attachErrs map[string]error  // "iface/direction" -> why not attached; nil entry = attached
	attachMode map[string]string // "iface/direction" -> mode label of its axon_attached series
	podIfaces  map[string]error  // interface -> why no pod is recorded behind it (nil: recorded)
	veths      string            // the node's veth ifindexes at the last check (vethsChanged)
	applied    bool
	lastFP     string
	table      *table.Table
	generation uint64
	fatal      error // the datapath cannot enforce at all

	dirFailing atomic.Bool // the policy directory could not be read
}

// New prepares an agent; Run starts it.
func New(cfg Config, dp Datapath, load Loader) (*Agent, error) {
	if cfg.PolicyDir == "" {
		return nil, errors.New("agent: no policy directory")
	}
	if len(cfg.Interfaces) == 0 {
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
	a := &Agent{cfg: cfg, log: cfg.Logger, dp: dp, load: load, att: att, attachErrs: map[string]error{},
		attachMode: map[string]string{}, podIfaces: map[string]error{}}
	var src metrics.Source
	if dp != nil {
		a.ctr = newCounterState(dp.Counters)
		if err := a.ctr.prime(); err != nil {
			return nil, fmt.Errorf("reading datapath counters: %w", err)
		}
		src = a.ctr
	}
	a.reg, a.m = metrics.New(src)
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
	for _, ifc := range a.cfg.Interfaces {
		for _, d := range attach.Directions {
			if err := a.attachErrs[ifc+"/"+string(d)]; err != nil {
				errs = append(errs, fmt.Errorf("%s %s: %w", ifc, d, err))
			}
		}
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
