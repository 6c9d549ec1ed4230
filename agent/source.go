package agent

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/axon-dev/axon/agent/watch"
	"github.com/axon-dev/axon/policy/table"
)

// Source is where the agent's policy sets come from: a policy directory
// (standalone mode) or the API server (cluster mode, agent/cluster). Every
// source goes through the same path: a change is compiled, written into the
// maps, retried when the maps refuse it, and on any error the table in force
// stays.
type Source interface {
	// Describe names the source in logs ("policy directory") with the
	// attributes that locate it.
	Describe() (what string, attrs []any)
	// Fingerprint identifies the current content; the agent calls it once
	// before its first load. An error means the source cannot be read.
	Fingerprint() (string, error)
	// Watch calls onChange with a new fingerprint each time the content
	// changes after initial, and onError once per change of readability
	// (nil when readable again), until ctx ends.
	Watch(ctx context.Context, initial string, onChange func(fp string), onError func(error))
	// Load reads and compiles the content, keeping the IDs of prev where it
	// can. As for Loader, on error no table is returned.
	Load(fp string, prev *table.Table) (*table.Table, []string, error)
}

// NodeSource is a Source that knows which pods run on this node (cluster
// mode): the agent finds each one's host-side interface, attaches in front
// of it, and tells the source the outcome of every load for its status.
type NodeSource interface {
	Source
	// LocalPodIPs returns the IPs of this node's pods that have their own
	// (not host-network, not finished), as last read.
	LocalPodIPs() []netip.Addr
	// Result reports the outcome of a load: t is the table compiled (nil
	// when compiling failed), err nil when t is now in the maps.
	Result(t *table.Table, err error)
}

// dirSource is a policy directory read with a Loader: the standalone source.
type dirSource struct {
	dir      string
	interval time.Duration
	load     Loader

	mu     sync.Mutex
	last   watch.Change      // the last change reported, until loaded
	loaded map[string][]byte // the watcher's files the last load took
}

func (d *dirSource) Describe() (string, []any) { return "policy directory", []any{"dir", d.dir} }

func (d *dirSource) Fingerprint() (string, error) { return watch.Fingerprint(d.dir) }

func (d *dirSource) Watch(ctx context.Context, initial string, onChange func(string), onError func(error)) {
	watch.WatchChanges(ctx, d.dir, d.interval, initial, func(c watch.Change) {
		d.mu.Lock()
		d.last = c
		d.mu.Unlock()
		onChange(c.Fingerprint)
	}, onError)
}

// Load loads the directory, taking the files the watcher read for the
// change fp (when it is the last one reported) instead of reading them
// again: the table is compiled from the bytes fp was computed from.
func (d *dirSource) Load(fp string, prev *table.Table) (*table.Table, []string, error) {
	var files map[string][]byte
	d.mu.Lock()
	if fp != "" && d.last.Fingerprint == fp {
		files = d.last.Files
		d.last.Files = nil // once: a retry reads the directory
	}
	d.loaded = files
	d.mu.Unlock()
	return d.load(d.dir, files, prev)
}

// seen says when the change fp was first seen and when the scan that found
// it ended (zero when unknown).
func (d *dirSource) seen(fp string) (event, scanned time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fp == "" || d.last.Fingerprint != fp {
		return time.Time{}, time.Time{}
	}
	return d.last.Event, d.last.Scanned
}

// takeLoaded returns, once, the watcher's files the last load took: the
// agent's second reading of the directory (pods for denial labels) takes
// them too.
func (d *dirSource) takeLoaded() map[string][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	f := d.loaded
	d.loaded = nil
	return f
}
