package modelproxy

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the proxy's counters. A nil *Metrics counts nothing.
type Metrics struct {
	requests   *prometheus.CounterVec
	tokenCount *prometheus.CounterVec
}

// NewMetrics registers the proxy's counters with reg:
// claw_runtime_model_proxy_requests_total{outcome} (ok, quota,
// rate_limited, unauthorized, bad_request, too_large, wrong_model,
// not_found, meter_failed, upstream_error, upstream_unreachable) and
// claw_runtime_model_proxy_tokens_total{direction} (input, output).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_runtime_model_proxy_requests_total",
			Help: "Model calls of the OpenClaw gateway through the metering proxy, by outcome.",
		}, []string{"outcome"}),
		tokenCount: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_runtime_model_proxy_tokens_total",
			Help: "Tokens the model endpoint reported for the gateway's calls, counted in the customer's usage.",
		}, []string{"direction"}),
	}
	for o := range refusals {
		m.requests.WithLabelValues(o)
	}
	m.requests.WithLabelValues(outcomeOK)
	m.requests.WithLabelValues(outcomeUpstream)
	m.tokenCount.WithLabelValues("input")
	m.tokenCount.WithLabelValues("output")
	reg.MustRegister(m.requests, m.tokenCount)
	return m
}

func (m *Metrics) request(outcome string) {
	if m != nil {
		m.requests.WithLabelValues(outcome).Inc()
	}
}

func (m *Metrics) tokens(u Usage) {
	if m != nil {
		m.tokenCount.WithLabelValues("input").Add(float64(u.Input))
		m.tokenCount.WithLabelValues("output").Add(float64(u.Output))
	}
}
