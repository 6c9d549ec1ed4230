package cluster

import (
	"context"
	"sync"
	"testing"
	"time"
)

// A burst of changes is one reload, and a steady stream of changes still
// reloads at least every maxDelay.
func TestWatchDebounces(t *testing.T) {
	s := &Source{changed: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	var (
		mu  sync.Mutex
		fps []string
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Watch(ctx, "0", func(fp string) {
			mu.Lock()
			fps = append(fps, fp)
			mu.Unlock()
		}, func(error) {})
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(fps)
	}

	for range 20 {
		s.bump()
	}
	time.Sleep(quiet + 200*time.Millisecond)
	if n := count(); n != 1 || fps[0] != "20" {
		t.Errorf("a burst of 20 changes gave %d reloads %v, want one at fingerprint 20", n, fps)
	}

	// A change every 20 ms for a second: never quiet, so maxDelay applies.
	start, changes := time.Now(), 0
	for time.Since(start) < time.Second {
		s.bump()
		changes++
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(quiet + 100*time.Millisecond)
	if n := count() - 1; n < 3 || n > changes/2 {
		t.Errorf("%d changes in a second gave %d reloads, want about one per %v", changes, n, maxDelay)
	}
	cancel()
	<-done
}
