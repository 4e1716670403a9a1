package app

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/services/health/internal/probe"
)

type metrics struct {
	probes      *prometheus.HistogramVec
	timeToReady prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		probes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claw_health_probe_duration_seconds",
			Help:    "Round trip of one health probe, by result (healthy, unhealthy, error).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}, []string{"result"}),
		timeToReady: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "claw_health_time_to_ready_seconds",
			Help:    "From the start of a readiness check to the instance's first 200.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.probes, m.timeToReady} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register health metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) probe(r probe.Result) {
	result := "unhealthy"
	switch {
	case r.Healthy:
		result = "healthy"
	case r.Err != nil:
		result = "error"
	}
	m.probes.WithLabelValues(result).Observe(r.Latency.Seconds())
}

func (m *metrics) ready(wait time.Duration) {
	m.timeToReady.Observe(wait.Seconds())
}
