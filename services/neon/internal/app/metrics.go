package app

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Operation and result label values. Labels never carry customer ids.
const (
	opCreate = "create"
	opDelete = "delete"
	// Lifecycle operations.
	opArchive       = "archive"
	opRestore       = "restore"
	opDeleteArchive = "delete_archive"

	resultOK     = "ok"     // done; the result event is published
	resultRetry  = "retry"  // failed; the command is redelivered later
	resultFailed = "failed" // failed for good; dead-lettered
	resultReplay = "replay" // carried out before; acknowledged, nothing done
)

// metrics are the service's own Prometheus metrics.
type metrics struct {
	operations *prometheus.CounterVec
	duration   *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_neon_operations_total",
			Help: "Database operations handled, by operation (create, delete) and result (ok, retry, failed, replay).",
		}, []string{"op", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claw_neon_operation_duration_seconds",
			Help:    "Duration of database operations (each delivery), by operation.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}, []string{"op"}),
	}
	for _, c := range []prometheus.Collector{m.operations, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register neon metrics: %w", err)
		}
	}
	return m, nil
}

// done records one handled delivery of op that started at start.
func (m *metrics) done(op, result string, start time.Time) {
	m.operations.WithLabelValues(op, result).Inc()
	m.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}
