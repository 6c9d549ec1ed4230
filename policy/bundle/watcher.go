package bundle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultInterval is how often the Watcher polls its sources.
const DefaultInterval = 30 * time.Second

// Watcher polls bundle sources (paths and http(s) URLs) and keeps the last
// good bundle of each: an update that does not read (a truncated tarball, a
// module that does not parse, a server error) or that Check refuses is
// logged and counted, and the previous bundle stays.
type Watcher struct {
	// Check, when set, is asked about every new bundle before it replaces
	// the last good one, with the bundles as they would be (candidate) and
	// as they are (current); an error refuses it. The agent compiles its
	// policy directory with them (a bundle that reads but does not compile
	// is refused, unless the directory does not compile either way).
	Check func(candidate, current []*Bundle) error

	sources []*watched
	log     *slog.Logger
	loads   *prometheus.CounterVec
	ok      *prometheus.GaugeVec

	mu      sync.Mutex
	changed chan struct{}
}

type watched struct {
	src  string
	http *HTTPSource // nil for a path
	last *Bundle     // last good
}

// NewWatcher returns a Watcher of srcs (nil log: no logging).
func NewWatcher(srcs []string, log *slog.Logger) *Watcher {
	w := &Watcher{
		log:     log,
		changed: make(chan struct{}, 1),
		loads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "axon_bundle_loads_total",
			Help: "Bundle polls by source and result: new (a changed bundle loaded), unchanged (304 or same content), error (did not download or read) or invalid (refused by the check: does not compile); after error and invalid the last good bundle stays.",
		}, []string{"bundle", "result"}),
		ok: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "axon_bundle_ok",
			Help: "1 when the last poll of the bundle source succeeded, 0 when it failed (the last good bundle stays in use).",
		}, []string{"bundle"}),
	}
	if log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	for _, s := range srcs {
		ws := &watched{src: s}
		if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
			ws.http = &HTTPSource{URL: s}
		}
		w.sources = append(w.sources, ws)
	}
	return w
}

// Register adds the Watcher's metrics (axon_bundle_loads_total,
// axon_bundle_ok) to reg.
func (w *Watcher) Register(reg prometheus.Registerer) error {
	if err := reg.Register(w.loads); err != nil {
		return err
	}
	return reg.Register(w.ok)
}

// Changed receives a value after a poll that changed some bundle.
func (w *Watcher) Changed() <-chan struct{} { return w.changed }

// Bundles returns the last good bundle of each source that has one.
func (w *Watcher) Bundles() []*Bundle {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []*Bundle
	for _, s := range w.sources {
		if s.last != nil {
			out = append(out, s.last)
		}
	}
	return out
}

// Poll polls every source once and reports whether a bundle changed; the
// error joins the sources' errors (their last good bundles stay).
func (w *Watcher) Poll(ctx context.Context) (bool, error) {
	var errs []error
	changed := false
	for _, s := range w.sources {
		b, err := s.fetch(ctx)
		if err != nil {
			w.loads.WithLabelValues(s.src, "error").Inc()
			w.ok.WithLabelValues(s.src).Set(0)
			w.log.Error("bundle update failed; the last good bundle stays", "bundle", s.src, "error", err,
				"in_use", s.revision())
			errs = append(errs, err)
			continue
		}
		w.mu.Lock()
		fresh := b != nil && (s.last == nil || s.last.Fingerprint != b.Fingerprint)
		w.mu.Unlock()
		if !fresh {
			w.ok.WithLabelValues(s.src).Set(1)
			w.loads.WithLabelValues(s.src, "unchanged").Inc()
			continue
		}
		if err := w.check(s, b); err != nil {
			w.loads.WithLabelValues(s.src, "invalid").Inc()
			w.ok.WithLabelValues(s.src).Set(0)
			w.log.Error("bundle update refused; the last good bundle stays", "bundle", s.src, "error", err,
				"in_use", s.revision())
			if s.http != nil {
				s.http.forget() // download and check it again next time
			}
			errs = append(errs, err)
			continue
		}
		w.ok.WithLabelValues(s.src).Set(1)
		w.mu.Lock()
		s.last = b
		w.mu.Unlock()
		changed = true
		w.loads.WithLabelValues(s.src, "new").Inc()
		w.log.Info("bundle loaded", "bundle", s.src, "revision", b.Revision, "modules", len(b.Modules), "tests", len(b.Tests))
	}
	if changed {
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
	return changed, errors.Join(errs...)
}

// check asks Check about b replacing s's bundle.
func (w *Watcher) check(s *watched, b *Bundle) error {
	if w.Check == nil {
		return nil
	}
	current := w.Bundles()
	var candidate []*Bundle
	w.mu.Lock()
	for _, o := range w.sources {
		switch {
		case o == s:
			candidate = append(candidate, b)
		case o.last != nil:
			candidate = append(candidate, o.last)
		}
	}
	w.mu.Unlock()
	return w.Check(candidate, current)
}

// Run polls every interval until ctx ends.
func (w *Watcher) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = w.Poll(ctx)
		}
	}
}

// fetch returns the source's bundle, or nil when it is known unchanged
// (HTTP 304).
func (s *watched) fetch(ctx context.Context) (*Bundle, error) {
	if s.http != nil {
		return s.http.Fetch(ctx)
	}
	return Load(s.src)
}

func (s *watched) revision() string {
	if s.last == nil {
		return "none"
	}
	return fmt.Sprintf("revision %q (%s)", s.last.Revision, s.last.Fingerprint[:12])
}
