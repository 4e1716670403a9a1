package monitor

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/services/health/internal/probe"
)

// Metrics are the monitor's Prometheus metrics. None has a customer label.
type Metrics struct {
	// Probes is the latency of monitoring probes by result.
	Probes *prometheus.HistogramVec
	// Instances counts live instances by health state.
	Instances *prometheus.GaugeVec
	// Restarts counts restarts asked for.
	Restarts prometheus.Counter
	// Failures counts the monitor's own failures by operation.
	Failures *prometheus.CounterVec
	// StatusReads counts the quota check's reads of /status, and the ones
	// skipped because the instance had done nothing since the last.
	StatusReads *prometheus.CounterVec
}

// NewMetrics returns unregistered metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Probes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claw_health_monitor_probe_duration_seconds",
			Help:    "Round trip of one monitoring probe of a live instance, by result (healthy, unhealthy, error).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 10),
		}, []string{"result"}),
		Instances: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claw_health_instances",
			Help: "Live instances by health state (healthy, degraded, down), as of the last probe cycle.",
		}, []string{"state"}),
		Restarts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claw_health_restarts_requested_total",
			Help: "Restarts asked of compute (cmd.compute.restart) after repeated failed probes.",
		}),
		Failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_health_monitor_failures_total",
			Help: "Failures of the monitor itself, by operation (cycle, publish, quota).",
		}, []string{"op"}),
		StatusReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_health_status_reads_total",
			Help: "The quota check's reads of an instance's /status (read), those skipped because its activity token had not moved since the last read (skipped), and those put off after a failed read (deferred; HEALTH_STATUS_RETRY, doubling): a read costs the customer's database a backend.",
		}, []string{"result"}),
	}
	for _, r := range []string{"read", "skipped", "deferred"} {
		m.StatusReads.WithLabelValues(r)
	}
	return m
}

// Register registers the metrics with reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.Probes, m.Instances, m.Restarts, m.Failures, m.StatusReads} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("register monitor metrics: %w", err)
		}
	}
	return nil
}

func (m *Metrics) probe(r probe.Result) {
	result := "unhealthy"
	switch {
	case r.Healthy:
		result = "healthy"
	case r.Err != nil:
		result = "error"
	}
	m.Probes.WithLabelValues(result).Observe(r.Latency.Seconds())
}
