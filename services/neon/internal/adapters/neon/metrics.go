package neon

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/promreg"
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
	// A second driver on the same registry counts into the first's.
	var err error
	if m.requests, err = promreg.Register(reg, m.requests); err != nil {
		return nil, fmt.Errorf("register neon API metrics: %w", err)
	}
	if m.retries, err = promreg.Register(reg, m.retries); err != nil {
		return nil, fmt.Errorf("register neon API metrics: %w", err)
	}
	return m, nil
}

func (m *apiMetrics) request(code string) { m.requests.WithLabelValues(code).Inc() }
func (m *apiMetrics) retry(code string)   { m.retries.WithLabelValues(code).Inc() }
