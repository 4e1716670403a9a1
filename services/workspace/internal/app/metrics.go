package app

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a handled command, the only label values of the metrics.
const (
	outcomeDone     = "done"     // built or deleted now
	outcomeReplayed = "replayed" // already done; the result was reported again
	outcomeFailed   = "failed"   // failed for good; workspace.failed published
	outcomeRetry    = "retry"    // failed for now; the command is redelivered
)

type metrics struct {
	builds        *prometheus.CounterVec
	buildDuration *prometheus.HistogramVec
	deletes       *prometheus.CounterVec
	lifecycle     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_workspace_builds_total",
			Help: "cmd.workspace.build handled, by result (done, replayed, failed, retry).",
		}, []string{"result"}),
		buildDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claw_workspace_build_duration_seconds",
			Help:    "Time to handle cmd.workspace.build, by result.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"result"}),
		deletes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_workspace_deletes_total",
			Help: "cmd.workspace.delete handled, by result (done, failed, retry).",
		}, []string{"result"}),
		lifecycle: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_workspace_lifecycle_commands_total",
			Help: "Lifecycle commands handled (render_skills, revoke_keys), by command and result (done, failed, retry).",
		}, []string{"command", "result"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.builds, m.buildDuration, m.deletes, m.lifecycle} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register workspace metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) build(result string, d time.Duration) {
	m.builds.WithLabelValues(result).Inc()
	m.buildDuration.WithLabelValues(result).Observe(d.Seconds())
}
