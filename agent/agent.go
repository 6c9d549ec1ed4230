package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/audit"
	"github.com/axon-dev/axon/agent/metrics"
	"github.com/axon-dev/axon/agent/server"
	"github.com/axon-dev/axon/agent/stream"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
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
	PolicyDir  string
	Interfaces []string // --attach; in cluster mode the local pods' interfaces are added
	// Source, when set, is read instead of PolicyDir (cluster mode: the API
	// server). A NodeSource also names the node's pods to attach in front of.
	Source       Source
	MetricsAddr  string
	PinDir       string
	AttachMode   attach.Mode
	PollInterval time.Duration // policy dir polling; watch.DefaultInterval if zero
	RetryAttach  time.Duration // retry period for failed attachments; 1s if zero
	RetryApply   time.Duration // first retry of a table the maps rejected; doubles up to maxRetryApply; 1s if zero
	LogDecisions bool          // log every deny and audit_deny event (off: count only)
	Logger       *slog.Logger
	// Reloads asks for a reload of the policy set besides changes of the
	// directory, e.g. when an OPA bundle the loader adds changed (nil: none).
	Reloads <-chan struct{}
	// Objects reads the Pods and HTTPMonitors the source holds, for the
	// labels of denial series (nil: the policy directory's).
	Objects func() (*source.Set, source.Problems, error)
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

	refreshMu sync.Mutex // one refreshPodInterfaces at a time

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
	table      *compiler.Table
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
		started: time.Now(), tally: audit.NewTally()}
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

// Run serves the HTTP endpoints, applies the policy directory, attaches the
// programs and then follows the directory until ctx ends. Stopping the agent
// leaves programs, links and maps in place: enforcement continues.
func (a *Agent) Run(ctx context.Context) error {
	addr, srvErr, err := server.Serve(ctx, a.cfg.MetricsAddr, server.Handler(a.reg, a.Ready,
		server.Route{Pattern: "GET /v1/events", Handler: a.hub},
		server.Route{Pattern: "GET /v1/denials", Handler: http.HandlerFunc(a.serveReport)}))
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

	fp, err := a.src.Fingerprint()
	a.policyDirState(err)
	if a.denials != nil {
		wg.Go(func() { a.pollDenials(ctx.Done()) })
	}
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
	a.refreshPodInterfaces()
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
		a.src.Watch(ctx, fp, func(fp string) {
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
	lastFP := fp // of the directory as last reloaded
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
			lastFP = fp
			retry.stop()
			if failed = a.reload(fp); failed != nil {
				retry.start()
			}
			a.refreshPodInterfaces()
		case <-a.cfg.Reloads:
			retry.stop()
			if failed = a.reload(lastFP); failed != nil {
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

// policyDirState reports whether the policy source can be read: the
// watcher calls it once per change of state, with nil when readable again.
func (a *Agent) policyDirState(err error) {
	what, attrs := a.src.Describe()
	if err == nil {
		if a.dirFailing.Swap(false) {
			a.log.Info(what+" readable again", attrs...)
		}
		a.m.DirOK.Set(1)
		return
	}
	a.dirFailing.Store(true)
	a.m.DirOK.Set(0)
	a.logLoadFailure("cannot read the "+what, append(attrs, "error", err)...)
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
		if a.node != nil {
			// Cluster mode: a pod's interface appears or goes after (or
			// before) the pod object does.
			changed := a.vethsChanged()
			if changed || a.unresolvedPods() > 0 {
				a.refreshPodInterfaces()
			}
			if changed {
				// Every veth holding a known pod's address is recorded,
				// attached or not (a pod cannot send as another pod).
				a.syncPodInterfaces(a.interfaces(), a.Table())
			}
		}
		if failed := a.unattached(); len(failed) > 0 {
			a.attach(failed)
		} else if a.node == nil && a.vethsChanged() {
			// A pod came or went: its interface is recorded (or forgotten)
			// now, not at the next policy change.
			a.syncPodInterfaces(a.interfaces(), a.Table())
		}
	}
}

// reload loads, compiles and applies the policy directory. On any error the
// table in force stays, and the error is logged and counted. When only
// writing into the maps failed, it returns the compiled table to retry.
func (a *Agent) reload(fp string) *pendingTable {
	start := time.Now()
	t, warnings, err := a.src.Load(fp, a.Table())
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
		_, attrs := a.src.Describe()
		a.logLoadFailure("policy load failed", append(attrs, "error", err)...)
		if a.node != nil {
			a.node.Result(nil, err)
		}
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
	a.syncPodInterfaces(a.interfaces(), t)
	ustart := time.Now()
	if err := a.dp.Apply(t); err != nil {
		a.m.LoadErrors.WithLabelValues("apply").Inc()
		a.m.LoadOK.Set(0)
		a.logLoadFailure("writing policy into maps failed, retrying", "error", err)
		if a.node != nil {
			a.node.Result(t, fmt.Errorf("writing policy into maps: %w", err))
		}
		return err
	}
	a.m.MapUpdate.Observe(time.Since(ustart).Seconds())
	a.refreshDenials() // what the previous table counted, with its labels
	a.marks.update(t, a.tally.Series(), time.Now())
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
	a.reloadPods()
	setRows(a.m.TableRows, t)
	a.updateEnforcing()
	if a.node != nil {
		a.node.Result(t, nil)
	}
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
	for _, ifc := range a.ifaces {
		for _, d := range attach.Directions {
			if a.attachErrs[ifc+"/"+string(d)] != nil {
				out = append(out, ifc)
				break
			}
		}
	}
	return out
}

func (a *Agent) attachAll() { a.attach(a.interfaces()) }

// interfaces returns the interfaces the agent attaches to now.
func (a *Agent) interfaces() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.ifaces)
}

// verifyAttachments marks attachments the kernel dropped (an interface
// deleted and recreated, a filter removed by hand) as failed, so that
// readiness drops and the next attach puts them back.
func (a *Agent) verifyAttachments() {
	ats := a.att.Check(a.interfaces(), a.dp.Programs())
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
		removed, perr := a.att.Prune(a.interfaces())
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
