package agent

import (
	"context"
	"net/netip"
	"time"

	"github.com/axon-dev/axon/agent/watch"
	"github.com/axon-dev/axon/policy/compiler"
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
	Load(fp string, prev *compiler.Table) (*compiler.Table, []string, error)
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
	Result(t *compiler.Table, err error)
}

// dirSource is a policy directory read with a Loader: the standalone source.
type dirSource struct {
	dir      string
	interval time.Duration
	load     Loader
}

func (d *dirSource) Describe() (string, []any) { return "policy directory", []any{"dir", d.dir} }

func (d *dirSource) Fingerprint() (string, error) { return watch.Fingerprint(d.dir) }

func (d *dirSource) Watch(ctx context.Context, initial string, onChange func(string), onError func(error)) {
	watch.Watch(ctx, d.dir, d.interval, initial, onChange, onError)
}

func (d *dirSource) Load(_ string, prev *compiler.Table) (*compiler.Table, []string, error) {
	return d.load(d.dir, prev)
}
