package cluster

import (
	"context"
	"errors"
	"reflect"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	corev1 "k8s.io/api/core/v1"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// statusCheck is how often the status is recomputed (a cheap comparison);
// it is written only when it differs from the one last written, or when the
// heartbeat is due.
const statusCheck = time.Second

// Length limits of the AxonNodeStatus schema.
const (
	maxMessage     = 4096
	maxPolicyError = 1024
)

// status computes what the node's AxonNodeStatus says now (without the
// heartbeat time).
func (s *Source) status() v1alpha1.AxonNodeStatusStatus {
	s.mu.Lock()
	seen, applied, lastErr, ready := s.seen, s.applied, s.lastErr, s.readiness
	s.mu.Unlock()
	st := v1alpha1.AxonNodeStatusStatus{
		HeartbeatSeconds: int32(min(max(s.cfg.Heartbeat/time.Second, 1), 3600)),
		AgentVersion:     truncate(s.cfg.AgentVersion, 64),
	}
	var notReady error
	if ready != nil {
		notReady = ready()
	}
	st.Enforcing = ready != nil && notReady == nil
	switch {
	case lastErr != nil:
		st.Message = truncate("last policy set not applied: "+lastErr.Error(), maxMessage)
	case notReady != nil:
		st.Message = truncate("not enforcing: "+notReady.Error(), maxMessage)
	}
	if seen == nil {
		return st
	}
	for _, key := range seen.local {
		e := v1alpha1.NodePolicyStatus{Namespace: key.Namespace, Name: key.Name}
		if applied != nil {
			e.AppliedGeneration = applied.gens[key]
		}
		if lastErr != nil && e.AppliedGeneration != seen.gens[key] {
			e.Error = truncate(lastErr.Error(), maxPolicyError)
		}
		st.Policies = append(st.Policies, e)
	}
	st.PolicyCount = int32(len(st.Policies))
	return st
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// writeStatus keeps the node's AxonNodeStatus current until ctx ends: it
// writes when the content changes (checked every statusCheck and after each
// load) and renews the heartbeat every Heartbeat otherwise.
func (s *Source) writeStatus(ctx context.Context) {
	t := time.NewTicker(statusCheck)
	defer t.Stop()
	var (
		obj      *v1alpha1.AxonNodeStatus // as last written
		written  v1alpha1.AxonNodeStatusStatus
		lastBeat time.Time
		failing  bool
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.statusKick:
		}
		st := s.status()
		if obj != nil && reflect.DeepEqual(st, written) && time.Since(lastBeat) < s.cfg.Heartbeat {
			continue
		}
		now := time.Now()
		st.HeartbeatTime = metav1.NewTime(now)
		o, err := s.putStatus(ctx, obj, st)
		if errors.Is(err, errRetry) {
			obj = nil // lost a race: read it again next time
			continue
		}
		if err != nil {
			obj = nil
			if !failing {
				s.log.Error("cannot write this node's AxonNodeStatus; enforcing the policy in force meanwhile", "error", err)
			}
			failing = true
			if !answered(err) {
				s.apiState(err)
			}
			continue
		}
		if failing {
			s.log.Info("AxonNodeStatus written again")
		}
		failing = false
		s.apiState(nil)
		obj, lastBeat = o, now
		st.HeartbeatTime = metav1.Time{}
		written = st
	}
}

// putStatus writes st as the status of the node's AxonNodeStatus, creating
// it (owned by the Node, so that it goes with it) when missing. last is
// the object as last written, nil to read it first.
func (s *Source) putStatus(ctx context.Context, last *v1alpha1.AxonNodeStatus, st v1alpha1.AxonNodeStatusStatus) (*v1alpha1.AxonNodeStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	obj := last
	if obj == nil {
		obj = &v1alpha1.AxonNodeStatus{}
		err := s.client.Get(ctx, types.NamespacedName{Name: s.cfg.NodeName}, obj)
		if apierrors.IsNotFound(err) {
			obj = &v1alpha1.AxonNodeStatus{ObjectMeta: metav1.ObjectMeta{Name: s.cfg.NodeName}}
			var node corev1.Node
			if err := s.client.Get(ctx, types.NamespacedName{Name: s.cfg.NodeName}, &node); err == nil {
				obj.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
			}
			err = s.client.Create(ctx, obj)
		}
		if err != nil {
			return nil, err
		}
	}
	obj = obj.DeepCopy()
	obj.Status = st
	err := s.client.Status().Update(ctx, obj)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return nil, errors.Join(err, errRetry)
	}
	return obj, err
}

// errRetry marks a write that lost a race (the object changed or went); the
// next check reads it again.
var errRetry = errors.New("retrying")

var _ client.Object = (*v1alpha1.AxonNodeStatus)(nil)

// answered reports whether err is the API server's own answer (a refusal:
// forbidden, no such resource, invalid), not a failure to reach it.
func answered(err error) bool {
	return apierrors.ReasonForError(err) != metav1.StatusReasonUnknown
}
