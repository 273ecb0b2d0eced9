package metrics_test

import (
	"testing"

	dto "github.com/prometheus/client_model/go"

	"github.com/parkd/parkd/internal/metrics"
)

// gather returns the registry's metric families.
func gather(t *testing.T, m *metrics.Metrics) []*dto.MetricFamily {
	t.Helper()
	fs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fs
}
