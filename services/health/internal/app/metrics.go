package app

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/services/health/internal/probe"
)

// Results of a readiness check, the label values of claw_health_checks_total.
const (
	checkReady   = "ready"   // answered 200; instance.ready published
	checkFailed  = "failed"  // no 200 before the deadline; instance.failed published
	checkInvalid = "invalid" // the command could not be checked; instance.failed published when possible
	checkRetry   = "retry"   // interrupted (shutdown) or could not publish; redelivered
)

type metrics struct {
	checks      *prometheus.CounterVec
	probes      *prometheus.HistogramVec
	timeToReady prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_health_checks_total",
			Help: "Readiness checks of new instances, by result (ready, failed, invalid, retry).",
		}, []string{"result"}),
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
	for _, c := range []prometheus.Collector{m.checks, m.probes, m.timeToReady} {
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
