package policystatus

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// metrics are the reconciler's own, on the manager's /metrics beside
// controller-runtime's (controller_runtime_reconcile_total, workqueue_*).
type metrics struct {
	writes      *prometheus.CounterVec
	validations prometheus.Counter
}

var (
	sharedOnce    sync.Once
	sharedMetrics *metrics
)

// registered returns the metrics, registered once in controller-runtime's
// registry.
func registered() *metrics {
	sharedOnce.Do(func() {
		sharedMetrics = &metrics{
			writes: prometheus.NewCounterVec(prometheus.CounterOpts{
				Name: "axon_controller_policy_status_writes_total",
				Help: "L7NetworkPolicy status writes by result (ok; conflict: the cache was behind, tried again; gone: deleted meanwhile; error); a reconcile that changes nothing writes nothing.",
			}, []string{"result"}),
			validations: prometheus.NewCounter(prometheus.CounterOpts{
				Name: "axon_controller_policy_validations_total",
				Help: "L7NetworkPolicy compilations for the Accepted condition (on a new generation or a changed ConfigMap module).",
			}),
		}
		ctrlmetrics.Registry.MustRegister(sharedMetrics.writes, sharedMetrics.validations)
	})
	return sharedMetrics
}
