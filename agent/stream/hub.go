package stream

import (
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultBuffer is a subscriber's buffer, in events, unless it asks for
// another size (?buffer=N, at most MaxBuffer).
const (
	DefaultBuffer = 1024
	MaxBuffer     = 65536
)

// Hub fans events out to subscribers. Publish never blocks: an event a
// subscriber has no room for is counted as missed for it.
type Hub struct {
	missed prometheus.Counter
	active atomic.Int32

	mu   sync.Mutex
	subs map[*Sub]struct{}
}

// NewHub returns a hub; missed (may be nil) counts events missed by slow
// subscribers.
func NewHub(missed prometheus.Counter) *Hub {
	return &Hub{missed: missed, subs: map[*Sub]struct{}{}}
}

// Sub is one subscriber.
type Sub struct {
	f      Filter
	ch     chan Event
	missed atomic.Uint64
}

// C delivers the subscriber's events.
func (s *Sub) C() <-chan Event { return s.ch }

// TakeMissed returns the events missed since the last call.
func (s *Sub) TakeMissed() uint64 { return s.missed.Swap(0) }

// Active reports whether anyone subscribes: publishers may skip building
// events otherwise.
func (h *Hub) Active() bool { return h.active.Load() > 0 }

// Subscribe adds a subscriber with a buffer of n events.
func (h *Hub) Subscribe(f Filter, n int) *Sub {
	s := &Sub{f: f, ch: make(chan Event, n)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	h.active.Add(1)
	return s
}

// Unsubscribe removes s.
func (h *Hub) Unsubscribe(s *Sub) {
	h.mu.Lock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		h.active.Add(-1)
	}
	h.mu.Unlock()
}

// Publish offers e to every subscriber whose filter it matches.
func (h *Hub) Publish(e Event) {
	if !h.Active() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.f.Match(&e) {
			continue
		}
		select {
		case s.ch <- e:
		default:
			s.missed.Add(1)
			if h.missed != nil {
				h.missed.Inc()
			}
		}
	}
}

// ServeHTTP streams events as newline-delimited JSON until the client goes:
// GET /v1/events?type=&verdict=&namespace=&pod=&policy=&path=&buffer=N.
// Missed events are reported in-stream by a "lost" event before the next
// one (or within a second).
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := DefaultBuffer
	if b := r.URL.Query().Get("buffer"); b != "" {
		v, err := strconv.Atoi(b)
		if err != nil || v < 1 || v > MaxBuffer {
			http.Error(w, "buffer: want 1 to "+strconv.Itoa(MaxBuffer), http.StatusBadRequest)
			return
		}
		n = v
	}
	s := h.Subscribe(ParseFilter(r.URL.Query()), n)
	defer h.Unsubscribe(s)
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if fl != nil {
		fl.Flush()
	}
	enc := json.NewEncoder(w)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lost := func() error {
		if m := s.TakeMissed(); m > 0 {
			return enc.Encode(Event{Time: time.Now(), Type: TypeLost, Missed: m})
		}
		return nil
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if lost() != nil {
				return
			}
		case e := <-s.ch:
			if lost() != nil || enc.Encode(e) != nil {
				return
			}
		}
		if len(s.ch) == 0 && fl != nil {
			fl.Flush()
		}
	}
}
