package agent

import (
	"context"
	"time"

	"github.com/axon-dev/axon/agent/datapath"
)

// FlowExpirer is implemented by datapaths whose flow table the agent must
// keep from filling: the datapath never evicts a flow by itself.
type FlowExpirer interface {
	ExpireFlows(e datapath.FlowExpiry) (datapath.FlowStats, error)
}

// flowExpiryInterval is how often ended and idle flows are deleted.
const flowExpiryInterval = 10 * time.Second

// expireFlows deletes ended and idle flows every flowExpiryInterval until
// ctx ends.
func (a *Agent) expireFlows(ctx context.Context, fe FlowExpirer) {
	t := time.NewTicker(flowExpiryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st, err := fe.ExpireFlows(datapath.DefaultFlowExpiry)
		if err != nil {
			a.log.Error("expiring flows", "error", err)
			continue
		}
		a.m.Flows.Set(float64(st.Live))
		a.m.FlowsExpired.Add(float64(st.Expired))
	}
}
