package webhook

import (
	"maps"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// probeValue is the label value the probe pod gets for an Exists
// requirement.
const probeValue = "axon-admission-probe"

// probeLabels returns labels that sel selects, or false when no label set
// can satisfy it (e.g. app In (a) and app NotIn (a)).
func probeLabels(sel *metav1.LabelSelector) (map[string]string, bool) {
	l := maps.Clone(sel.MatchLabels)
	if l == nil {
		l = map[string]string{}
	}
	notIn := map[string][]string{}
	for _, r := range sel.MatchExpressions {
		if r.Operator == metav1.LabelSelectorOpNotIn {
			notIn[r.Key] = append(notIn[r.Key], r.Values...)
		}
	}
	for _, r := range sel.MatchExpressions {
		switch r.Operator {
		case metav1.LabelSelectorOpIn:
			if _, set := l[r.Key]; set {
				continue
			}
			for _, v := range r.Values {
				if !slices.Contains(notIn[r.Key], v) {
					l[r.Key] = v
					break
				}
			}
		case metav1.LabelSelectorOpExists:
			if _, set := l[r.Key]; !set {
				l[r.Key] = probeValue
			}
		}
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || !s.Matches(labels.Set(l)) {
		return nil, false
	}
	return l, true
}
