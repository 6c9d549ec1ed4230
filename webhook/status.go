package webhook

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/axon-dev/axon/api/v1alpha1"
)

// maxConditionMessage is metav1.Condition's limit on message length.
const maxConditionMessage = 32768

// SetAccepted records in p's status what ValidateL7NetworkPolicy found for
// p's current generation: the Accepted condition (True, or False with the
// errors as its message) and observedGeneration. It is for whoever writes
// the status (the controller re-validates when a ConfigMap holding a module
// changes); it reads and writes nothing else.
func SetAccepted(p *v1alpha1.L7NetworkPolicy, errs field.ErrorList) {
	c := metav1.Condition{
		Type:               v1alpha1.ConditionAccepted,
		Status:             metav1.ConditionTrue,
		Reason:             v1alpha1.ReasonCompiled,
		Message:            "the policy compiled",
		ObservedGeneration: p.Generation,
	}
	if len(errs) > 0 {
		c.Status, c.Reason = metav1.ConditionFalse, v1alpha1.ReasonInvalid
		for _, e := range errs {
			switch e.Type {
			case field.ErrorTypeNotSupported:
				c.Reason = v1alpha1.ReasonUnsupportedRego
			case field.ErrorTypeTooMany:
				c.Reason = v1alpha1.ReasonTooLarge
			}
		}
		c.Message = errs.ToAggregate().Error()
		if len(c.Message) > maxConditionMessage {
			c.Message = c.Message[:maxConditionMessage-3] + "..."
		}
	}
	meta.SetStatusCondition(&p.Status.Conditions, c)
	p.Status.ObservedGeneration = p.Generation
}
