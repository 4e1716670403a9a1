package railway

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/promreg"
)

// metrics are the driver's view of Railway's API. Labels are operation
// names and outcomes, never customer ids.
type metrics struct {
	requests *prometheus.CounterVec
	retries  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_railway_api_requests_total",
			Help: "HTTP requests sent to Railway's API, by GraphQL operation and outcome (ok, rate_limited, server_error, client_error, timeout, network_error, client_rate_limited).",
		}, []string{"operation", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_railway_api_retries_total",
			Help: "Requests to Railway's API sent again, by reason.",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = promreg.Register(reg, m.requests); err != nil {
		return nil, fmt.Errorf("register railway metrics: %w", err)
	}
	if m.retries, err = promreg.Register(reg, m.retries); err != nil {
		return nil, fmt.Errorf("register railway metrics: %w", err)
	}
	return m, nil
}

func (m *metrics) request(op, outcome string) { m.requests.WithLabelValues(op, outcome).Inc() }
func (m *metrics) retry(reason string)        { m.retries.WithLabelValues(reason).Inc() }
