package agent

import (
	"context"
	"errors"
	"fmt"

	"github.com/cilium/ebpf/ringbuf"

	"github.com/axon-dev/axon/agent/attach"
	"github.com/axon-dev/axon/agent/datapath"
)

// BPFDatapath adapts agent/datapath to the agent's Datapath interface.
type BPFDatapath struct {
	*datapath.Datapath
}

// OpenDatapath loads Axon's TC programs, pinning the maps under pinDir and
// reusing those an earlier agent pinned there. maxFlows sizes the flow
// table (0: the datapath's default); more options (datapath.WithEventRate)
// may follow.
func OpenDatapath(pinDir string, maxFlows uint32, opts ...datapath.Option) (*BPFDatapath, error) {
	if err := attach.EnsureBPFFS(pinDir); err != nil {
		return nil, err
	}
	// Programs attaches axon_egress and axon_reply only: axon_ingress is
	// not loaded (the kernel would verify the same parser a second time).
	base := []datapath.Option{datapath.WithPinDir(pinDir), datapath.WithMaxFlows(maxFlows), datapath.WithClientSides(datapath.EgressSide)}
	d, err := datapath.Open(append(base, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("opening datapath: %w", err)
	}
	return &BPFDatapath{Datapath: d}, nil
}

// PinnedPolicy reports whether, when the datapath was opened, the maps an
// earlier agent pinned policed some port in their active generation: a
// policy set was in force before this agent applied one.
func (b *BPFDatapath) PinnedPolicy() bool { return b.OpenedPolicing() }

// Programs returns the program for each attach direction of a pod-facing
// interface (the host side of a pod's veth, or the bridge port in front of
// it): egress carries client-to-server traffic to the pod, ingress the
// pod's replies.
func (b *BPFDatapath) Programs() attach.Programs {
	return attach.Programs{Ingress: b.Reply(), Egress: b.Egress()}
}

// RunEvents reads deny and audit_deny events until ctx ends.
func (b *BPFDatapath) RunEvents(ctx context.Context, fn func(datapath.Event)) error {
	r, err := b.Events()
	if err != nil {
		return err
	}
	go func() {
		<-ctx.Done()
		r.Close()
	}()
	for {
		e, err := r.Read()
		if err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("reading event: %w", err)
		}
		fn(e)
	}
}
