package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/axon-dev/axon/agent"
	"github.com/axon-dev/axon/api/v1alpha1"
	"github.com/axon-dev/axon/policy/compiler"
	"github.com/axon-dev/axon/policy/source"
)

// DefaultHeartbeat is how often the node's AxonNodeStatus is renewed when
// nothing in it changes.
const DefaultHeartbeat = 30 * time.Second

// Debouncing: a burst of changes (a Deployment rolling, a namespace of
// policies applied at once) is one reload. A change is loaded once no other
// came for quiet, and at the latest maxDelay after the first.
const (
	quiet    = 50 * time.Millisecond
	maxDelay = 300 * time.Millisecond
)

// Config configures a Source.
type Config struct {
	Rest         *rest.Config
	NodeName     string
	Heartbeat    time.Duration // DefaultHeartbeat if zero
	AgentVersion string
	Logger       *slog.Logger
}

// Source is the API server as the agent's policy source (agent.NodeSource).
type Source struct {
	cfg    Config
	log    *slog.Logger
	cache  cache.Cache
	client client.Client
	cc     *compiler.Cache

	seq     atomic.Uint64 // bumped on every relevant change
	changed chan struct{}
	synced  chan struct{}
	ctx     context.Context // Start's

	apiMu   sync.Mutex
	apiErr  error       // the API server's state as last seen (nil: reachable)
	onError func(error) // Watch's, once it runs

	mu         sync.Mutex
	seen       *snapshot // the objects of the last load
	compiledT  *compiler.Table
	compiledS  *snapshot
	applied    *snapshot // the objects whose table is in the maps
	lastErr    error     // of the last load or apply; nil when it succeeded
	readiness  func() error
	statusKick chan struct{}
}

var _ agent.NodeSource = (*Source)(nil)

// Scheme returns the types the agent reads and writes.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := corev1.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1alpha1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// New prepares a Source; Start starts its informers.
func New(cfg Config) (*Source, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("cluster: no node name")
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, fmt.Errorf("cluster: scheme: %w", err)
	}
	s := &Source{cfg: cfg, log: cfg.Logger, cc: compiler.NewCache(), changed: make(chan struct{}, 1),
		synced: make(chan struct{}), statusKick: make(chan struct{}, 1)}
	s.cache, err = cache.New(cfg.Rest, cache.Options{
		Scheme: scheme,
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}:       {Transform: stripPod},
			&corev1.Namespace{}: {Transform: stripNamespace},
		},
		DefaultWatchErrorHandler: func(_ context.Context, r *toolscache.Reflector, err error) {
			s.apiState(fmt.Errorf("watching %s: %w", r.TypeDescription(), err))
		},
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: informer cache: %w", err)
	}
	if s.client, err = client.New(cfg.Rest, client.Options{Scheme: scheme}); err != nil {
		return nil, fmt.Errorf("cluster: client: %w", err)
	}
	return s, nil
}

// watched are the kinds whose changes make a new policy set.
func watched() []client.Object {
	return []client.Object{&corev1.Pod{}, &corev1.Namespace{}, &corev1.ConfigMap{},
		&v1alpha1.L7NetworkPolicy{}, &v1alpha1.HTTPMonitor{}}
}

// Start starts the informers and the status writer; they run until ctx
// ends. It does not wait for the informers to sync (Fingerprint does).
// readiness is the agent's (Agent.Ready): it sets status.enforcing.
func (s *Source) Start(ctx context.Context, readiness func() error) error {
	s.ctx = ctx
	s.mu.Lock()
	s.readiness = readiness
	s.mu.Unlock()
	h := toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { s.bump() },
		UpdateFunc: func(o, n any) {
			if relevant(o, n) {
				s.bump()
			}
		},
		DeleteFunc: func(any) { s.bump() },
	}
	for _, obj := range watched() {
		inf, err := s.cache.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			return fmt.Errorf("cluster: informer for %T: %w", obj, err)
		}
		if _, err := inf.AddEventHandler(h); err != nil {
			return fmt.Errorf("cluster: event handler for %T: %w", obj, err)
		}
	}
	go func() {
		if err := s.cache.Start(ctx); err != nil {
			s.log.Error("informers stopped", "error", err)
		}
	}()
	go func() {
		if s.cache.WaitForCacheSync(ctx) {
			close(s.synced)
			s.apiState(nil)
		}
	}()
	go s.writeStatus(ctx)
	return nil
}

func (s *Source) bump() {
	s.seq.Add(1)
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Describe implements agent.Source.
func (s *Source) Describe() (string, []any) {
	return "Kubernetes API server", []any{"server", s.cfg.Rest.Host, "node", s.cfg.NodeName}
}

// Fingerprint waits for the informers' first sync and returns the change
// count.
func (s *Source) Fingerprint() (string, error) {
	if s.ctx == nil {
		return "", errors.New("cluster source not started")
	}
	select {
	case <-s.synced:
		return strconv.FormatUint(s.seq.Load(), 10), nil
	case <-s.ctx.Done():
		return "", fmt.Errorf("informers not synced: %w", s.ctx.Err())
	}
}

// Watch implements agent.Source: each burst of changes is one onChange.
// onError hears when the API server becomes unreachable and reachable
// again (watch errors, status writes).
func (s *Source) Watch(ctx context.Context, initial string, onChange func(string), onError func(error)) {
	s.apiMu.Lock()
	s.onError = onError
	s.apiMu.Unlock()
	last := initial
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.changed:
		}
		deadline := time.NewTimer(maxDelay)
	burst:
		for {
			select {
			case <-ctx.Done():
				deadline.Stop()
				return
			case <-s.changed:
			case <-time.After(quiet):
				break burst
			case <-deadline.C:
				break burst
			}
		}
		deadline.Stop()
		if fp := strconv.FormatUint(s.seq.Load(), 10); fp != last {
			last = fp
			onChange(fp)
		}
	}
}

// apiState records whether the API server answers, telling Watch's onError
// once per change.
func (s *Source) apiState(err error) {
	s.apiMu.Lock()
	defer s.apiMu.Unlock()
	if (err == nil) == (s.apiErr == nil) {
		return
	}
	s.apiErr = err
	if s.onError != nil {
		s.onError(err)
	}
}

// Load implements agent.Source: the informers' objects, checked and
// compiled as a policy directory is.
func (s *Source) Load(_ string, prev *compiler.Table) (*compiler.Table, []string, error) {
	objs, err := s.list()
	if err != nil {
		return nil, nil, &agent.LoadError{Stage: "source", Err: err}
	}
	snap := s.snapshotOf(objs)
	s.mu.Lock()
	s.seen = snap
	s.mu.Unlock()
	set, problems := source.FromObjects(objs)
	t, warnings, err := agent.CompileSet(set, problems, prev, s.cc)
	if t != nil {
		s.mu.Lock()
		s.compiledT, s.compiledS = t, snap
		s.mu.Unlock()
	}
	return t, warnings, err
}

// list reads every watched kind from the informers.
func (s *Source) list() (source.Objects, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		nss  corev1.NamespaceList
		pods corev1.PodList
		cms  corev1.ConfigMapList
		pols v1alpha1.L7NetworkPolicyList
		mons v1alpha1.HTTPMonitorList
	)
	for _, l := range []client.ObjectList{&nss, &pods, &cms, &pols, &mons} {
		if err := s.cache.List(ctx, l); err != nil {
			return source.Objects{}, fmt.Errorf("listing from the informers: %w", err)
		}
	}
	return source.Objects{Namespaces: nss.Items, Pods: pods.Items, ConfigMaps: cms.Items,
		Policies: pols.Items, Monitors: mons.Items}, nil
}

// LocalPodIPs implements agent.NodeSource.
func (s *Source) LocalPodIPs() []netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		return nil
	}
	return s.seen.localIPs
}

// Result implements agent.NodeSource: it updates what the node status says.
func (s *Source) Result(t *compiler.Table, err error) {
	s.mu.Lock()
	if err == nil && t != nil && t == s.compiledT {
		s.applied = s.compiledS
	}
	s.lastErr = err
	s.mu.Unlock()
	select {
	case s.statusKick <- struct{}{}:
	default:
	}
}

// Set returns the informers' objects as a policy set, unchecked for
// compilation: what the HTTP observer reads (its HTTPMonitors and Pods).
func (s *Source) Set() (*source.Set, source.Problems, error) {
	select {
	case <-s.synced:
	default:
		return nil, nil, errors.New("informers not synced yet")
	}
	objs, err := s.list()
	if err != nil {
		return nil, nil, err
	}
	set, problems := source.FromObjects(objs)
	return set, problems, nil
}

// Server is the API server's address.
func (s *Source) Server() string { return s.cfg.Rest.Host }
