package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/metrics"
	"github.com/axon-dev/axon/agent/server"
	"github.com/axon-dev/axon/agent/watch"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/prometheus/client_golang/prometheus"
)

// Datapath is what the agent drives in agent/datapath: the loaded programs,
// atomic table updates and the counters behind the metrics.
type Datapath interface {
	Programs() attach.Programs
	// Apply writes t into the maps so that every request is decided either
	// wholly by the previous table or wholly by t.
	Apply(t *compiler.Table) error
	// Counters reads the cumulative BPF counters.
	Counters() (Counters, error)
	// PinnedPolicy reports whether maps pinned by an earlier agent already
	// police traffic: a policy set is in force before the first Apply.
	PinnedPolicy() bool
}

// Loader reads and compiles a policy directory, keeping IDs of the previous
// table where it can. On error no table is returned; a *LoadError names the
// broken files. Warnings are logged. LoadDir is the real one.
type Loader func(dir string, prev *compiler.Table) (t *compiler.Table, warnings []string, err error)

// Config configures an Agent.
type Config struct {
	PolicyDir    string
	Interfaces   []string
	MetricsAddr  string
	PinDir       string
	AttachMode   attach.Mode
	PollInterval time.Duration // safety-net poll of the policy dir behind inotify; watch.DefaultInterval if zero
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
	table      *compiler.Table
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

// Run serves the HTTP endpoints, applies the policy directory, attaches the
// programs and then follows the directory until ctx ends. Stopping the agent
// leaves programs, links and maps in place: enforcement continues.
func (a *Agent) Run(ctx context.Context) error {
	addr, srvErr, err := server.Serve(ctx, a.cfg.MetricsAddr, server.Handler(a.reg, a.Ready))
	if err != nil {
		return err
	}
	a.log.Info("serving", "addr", addr.String())
	if a.dp == nil {
		// Nothing to enforce with; keep answering /readyz with the reason.
		select {
		case <-ctx.Done():
			return nil
		case err := <-srvErr:
			return err
		}
	}

	// Every goroutine started below ends with ctx, and Run waits for them:
	// cancel runs before Wait, also when the metrics server fails.
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	fp, err := watch.Fingerprint(a.cfg.PolicyDir)
	a.policyDirState(err)
	if es, ok := a.dp.(EventSource); ok {
		wg.Go(func() {
			if err := es.RunEvents(ctx, a.handleEvent); err != nil {
				a.log.Error("reading datapath events", "error", err)
			}
		})
	}
	// Fill the maps before attaching: a restarted agent whose new programs
	// replace pinned ones then never runs them on an empty table.
	failed := a.reload(fp)
	a.attachAll()

	if fe, ok := a.dp.(FlowExpirer); ok {
		wg.Go(func() { a.expireFlows(ctx, fe) })
	}
	// Attachments are checked and restored on their own goroutine: a reload
	// may compile for up to compileTimeout, and an interface recreated
	// meanwhile must not wait for it.
	wg.Go(func() { a.keepAttached(ctx) })

	changes := make(chan string, 1)
	wg.Go(func() {
		watch.Watch(ctx, a.cfg.PolicyDir, a.cfg.PollInterval, fp, func(fp string) {
			select {
			case changes <- fp:
			default:
				// A reload is pending; it will read the directory again.
				select {
				case <-changes:
				default:
				}
				changes <- fp
			}
		}, a.policyDirState)
	})
	// A table the maps rejected (a transient map error, a table too large)
	// is applied again with backoff until it succeeds or a change of the
	// directory brings a new one; the directory may never change again.
	retry := newBackoff(a.cfg.RetryApply, maxRetryApply)
	defer retry.stop()
	if failed != nil {
		retry.start()
	}
	for {
		select {
		case <-ctx.Done():
			a.log.Info("stopping; programs and maps stay pinned and enforcing")
			return nil
		case err := <-srvErr:
			if err == nil || ctx.Err() != nil {
				return nil // shut down because ctx ended
			}
			return fmt.Errorf("metrics server: %w", err)
		case fp := <-changes:
			retry.stop()
			if failed = a.reload(fp); failed != nil {
				retry.start()
			}
		case <-retry.C():
			if err := a.apply(failed, time.Now()); err != nil {
				retry.next()
			} else {
				failed = nil
			}
		}
	}
}

// policyDirState reports whether the policy directory can be read: the
// watcher calls it once per change of state, with nil when readable again.
func (a *Agent) policyDirState(err error) {
	if err == nil {
		if a.dirFailing.Swap(false) {
			a.log.Info("policy directory readable again", "dir", a.cfg.PolicyDir)
		}
		a.m.DirOK.Set(1)
		return
	}
	a.dirFailing.Store(true)
	a.m.DirOK.Set(0)
	a.logLoadFailure("cannot read the policy directory", "dir", a.cfg.PolicyDir, "error", err)
}

// keepAttached checks every RetryAttach that each attachment is still in
// place, and re-attaches what is missing, until ctx ends.
func (a *Agent) keepAttached(ctx context.Context) {
	t := time.NewTicker(a.cfg.RetryAttach)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.verifyAttachments()
		if failed := a.unattached(); len(failed) > 0 {
			a.attach(failed)
		} else if a.vethsChanged() {
			// A pod came or went: its interface is recorded (or forgotten)
			// now, not at the next policy change.
			a.syncPodInterfaces(a.cfg.Interfaces, a.Table())
		}
	}
}

// reload loads, compiles and applies the policy directory. On any error the
// table in force stays, and the error is logged and counted. When only
// writing into the maps failed, it returns the compiled table to retry.
func (a *Agent) reload(fp string) *pendingTable {
	start := time.Now()
	t, warnings, err := a.load(a.cfg.PolicyDir, a.Table())
	for _, w := range warnings {
		a.log.Warn("policy warning", "problem", w)
	}
	if err != nil {
		stage, files := "source", 1
		var le *LoadError
		if errors.As(err, &le) {
			stage = le.Stage
			files = max(len(le.Files), 1)
			for _, p := range le.Problems {
				a.log.Error("policy problem", "stage", le.Stage, "problem", p)
			}
		}
		a.m.LoadErrors.WithLabelValues(stage).Inc()
		a.m.LoadOK.Set(0)
		a.m.BrokenFiles.Set(float64(files))
		a.logLoadFailure("policy load failed", "dir", a.cfg.PolicyDir, "error", err)
		return nil
	}
	a.m.BrokenFiles.Set(0)
	p := &pendingTable{t: t, fp: fp}
	if err := a.apply(p, start); err != nil {
		return p
	}
	return nil
}

// pendingTable is a compiled table not yet in the maps.
type pendingTable struct {
	t  *compiler.Table
	fp string // fingerprint of the directory it was compiled from
}

// apply writes p into the maps and makes it the table in force; start is
// when its reload began. A failure is counted and logged, each time.
func (a *Agent) apply(p *pendingTable, start time.Time) error {
	t, fp := p.t, p.fp
	a.syncPodInterfaces(a.cfg.Interfaces, t)
	ustart := time.Now()
	if err := a.dp.Apply(t); err != nil {
		a.m.LoadErrors.WithLabelValues("apply").Inc()
		a.m.LoadOK.Set(0)
		a.logLoadFailure("writing policy into maps failed, retrying", "error", err)
		return err
	}
	a.m.MapUpdate.Observe(time.Since(ustart).Seconds())
	if err := a.ctr.switchTable(t); err != nil {
		a.log.Error("reading counters after the update; per-rule counts may be misattributed", "error", err)
	}
	a.m.LoadOK.Set(1)
	a.mu.Lock()
	a.applied, a.table, a.lastFP = true, t, fp
	a.generation++
	gen := a.generation
	a.mu.Unlock()
	a.m.Generation.Set(float64(gen))
	setRows(a.m.TableRows, t)
	a.updateEnforcing()
	a.log.Info("policy applied", "generation", gen, "rules", len(t.Rules), "endpoints", len(t.Endpoints),
		"path_rows", len(t.Paths), "duration", time.Since(start).String())
	return nil
}

// logLoadFailure logs a policy set that could not be applied, saying what
// is in force instead: the last set this agent applied, the set an earlier
// agent pinned, or nothing at all.
func (a *Agent) logLoadFailure(msg string, attrs ...any) {
	gen := a.generationNow()
	switch {
	case gen > 0:
		a.log.Error(msg+"; keeping the policy in force", append(attrs, "generation_in_force", gen)...)
	case a.dp.PinnedPolicy():
		a.log.Error(msg+"; the policy pinned by an earlier agent stays in force", attrs...)
	default:
		a.log.Error("NOT ENFORCING: no policy set loaded; "+msg, attrs...)
	}
}

func (a *Agent) generationNow() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.generation
}

// Table returns the table in force (nil before the first apply).
func (a *Agent) Table() *compiler.Table {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.table
}

// unattached lists the interfaces with a direction not attached.
func (a *Agent) unattached() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, ifc := range a.cfg.Interfaces {
		for _, d := range attach.Directions {
			if a.attachErrs[ifc+"/"+string(d)] != nil {
				out = append(out, ifc)
				break
			}
		}
	}
	return out
}

func (a *Agent) attachAll() { a.attach(a.cfg.Interfaces) }

// verifyAttachments marks attachments the kernel dropped (an interface
// deleted and recreated, a filter removed by hand) as failed, so that
// readiness drops and the next attach puts them back.
func (a *Agent) verifyAttachments() {
	ats := a.att.Check(a.cfg.Interfaces, a.dp.Programs())
	a.mu.Lock()
	var lost []attach.Attachment
	for _, at := range ats {
		key := at.Interface + "/" + string(at.Direction)
		if at.Err != nil && a.attachErrs[key] == nil {
			a.attachErrs[key] = at.Err
			lost = append(lost, at)
		}
	}
	for _, at := range lost {
		a.setAttachedLocked(at.Interface, at.Direction, 0)
	}
	a.mu.Unlock()
	for _, at := range lost {
		a.log.Error("NOT ENFORCING: attachment lost, re-attaching", "interface", at.Interface,
			"direction", at.Direction, "error", at.Err)
	}
	if len(lost) > 0 {
		a.updateEnforcing()
	}
}

func (a *Agent) attach(ifaces []string) {
	// The pod behind an interface is recorded before programs run there.
	a.syncPodInterfaces(ifaces, a.Table())
	ats, err := a.att.Attach(ifaces, a.dp.Programs())
	a.mu.Lock()
	for _, at := range ats {
		a.attachErrs[at.Interface+"/"+string(at.Direction)] = at.Err
		if at.Err != nil {
			a.setAttachedLocked(at.Interface, at.Direction, 0)
		} else {
			a.setAttachedLocked(at.Interface, at.Direction, 1)
		}
	}
	a.mu.Unlock()
	if err != nil {
		a.m.AttachErrs.Inc()
		a.log.Error("NOT ENFORCING on some interfaces: attach failed", "error", err)
	} else {
		removed, perr := a.att.Prune(a.cfg.Interfaces)
		a.m.Pruned.Add(float64(len(removed)))
		if perr != nil {
			a.log.Error("removing stale attachments", "error", perr)
		}
	}
	a.updateEnforcing()
}

// setAttachedLocked sets axon_attached for one interface and direction,
// labelled with the attach mechanism: the one resolved by the first
// successful attach, "auto" (when so configured) before any. Each interface
// and direction has exactly one series: when the label changes, the series
// with the old label is deleted rather than left behind at 0.
func (a *Agent) setAttachedLocked(iface string, d attach.Direction, v float64) {
	key, mode := iface+"/"+string(d), string(a.att.Mode())
	if old, ok := a.attachMode[key]; ok && old != mode {
		a.m.Attached.DeleteLabelValues(iface, string(d), old)
	}
	a.attachMode[key] = mode
	a.m.Attached.WithLabelValues(iface, string(d), mode).Set(v)
}

// updateEnforcing sets axon_enforcing from the readiness. It holds the lock
// while setting, so that the reload and attach goroutines cannot leave the
// gauge at a value computed from older state.
func (a *Agent) updateEnforcing() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.readyLocked() == nil {
		a.m.Enforcing.Set(1)
	} else {
		a.m.Enforcing.Set(0)
	}
}

func setRows(g *prometheus.GaugeVec, t *compiler.Table) {
	g.WithLabelValues("rules").Set(float64(len(t.Rules)))
	g.WithLabelValues("identities").Set(float64(len(t.Identities)))
	g.WithLabelValues("pod_ips").Set(float64(len(t.PodIPs)))
	g.WithLabelValues("cidrs").Set(float64(len(t.CIDRs)))
	g.WithLabelValues("methods").Set(float64(len(t.Methods)))
	g.WithLabelValues("endpoints").Set(float64(len(t.Endpoints)))
	g.WithLabelValues("source_classes").Set(float64(len(t.Classes)))
	g.WithLabelValues("path_rows").Set(float64(len(t.Paths)))
}
