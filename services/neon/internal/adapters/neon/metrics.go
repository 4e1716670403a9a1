package neon

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// apiMetrics counts the driver's Neon API requests. Labels carry HTTP status
// codes only, never a customer, branch or project.
type apiMetrics struct {
	requests *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

// newAPIMetrics registers the metrics with reg; a nil reg keeps them
// unregistered (tests, or a second driver in one process).
func newAPIMetrics(reg prometheus.Registerer) (*apiMetrics, error) {
	m := &apiMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_neon_api_requests_total",
			Help: "Neon API requests sent, by HTTP status of the answer (\"error\": no answer).",
		}, []string{"code"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_neon_api_retries_total",
			Help: "Neon API requests sent again after a 423, 429 or 503 answer, by that status.",
		}, []string{"code"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []**prometheus.CounterVec{&m.requests, &m.retries} {
		if err := reg.Register(*c); err != nil {
			// A second driver on the same registry counts into the first's.
			var dup prometheus.AlreadyRegisteredError
			if !errors.As(err, &dup) {
				return nil, fmt.Errorf("register neon API metrics: %w", err)
			}
			existing, ok := dup.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, fmt.Errorf("register neon API metrics: %w", err)
			}
			*c = existing
		}
	}
	return m, nil
}

func (m *apiMetrics) request(code string) { m.requests.WithLabelValues(code).Inc() }
func (m *apiMetrics) retry(code string)   { m.retries.WithLabelValues(code).Inc() }
