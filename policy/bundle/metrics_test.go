package bundle_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// sample returns the value of the sample of family name with the given labels in reg (-1: none).
func sample(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if match(m, labels) {
				if c := m.GetCounter(); c != nil {
					return c.GetValue()
				}
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func match(m *dto.Metric, labels map[string]string) bool {
	n := 0
	for _, lp := range m.Label {
		if v, ok := labels[lp.GetName()]; ok && v == lp.GetValue() {
			n++
		}
	}
	return n == len(labels)
}

func prometheusCounter(t *testing.T, reg *prometheus.Registry, name, bundle, result string) float64 {
	return sample(t, reg, name, map[string]string{"bundle": bundle, "result": result})
}

func prometheusGauge(t *testing.T, reg *prometheus.Registry, name, bundle string) float64 {
	return sample(t, reg, name, map[string]string{"bundle": bundle})
}
