package app

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/promreg"
	"clawdbot.cloud/services/saga/internal/domain"
)

// Metrics are the coordinator's Prometheus metrics. Labels never carry
// customer or saga ids.
type Metrics struct {
	started       prometheus.Counter
	finished      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	stepDuration  *prometheus.HistogramVec
	stepFailures  *prometheus.CounterVec
	compensations *prometheus.CounterVec
	running       prometheus.Gauge

	lifecycleStarted *prometheus.CounterVec
	events           *prometheus.CounterVec
	transitions      *prometheus.CounterVec
	notices          *prometheus.CounterVec
	timers           *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg. Registering twice on the same
// registry (a coordinator restarted in the same process) reuses the first
// registration.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		started: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claw_saga_started_total", Help: "Signup sagas started.",
		}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_saga_finished_total", Help: "Sagas that reached a final status (completed, compensated, failed).",
		}, []string{"status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "claw_saga_duration_seconds", Help: "Time from saga start to its final status.",
			Buckets: prometheus.ExponentialBuckets(0.25, 2, 12),
		}, []string{"status"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "claw_saga_step_duration_seconds", Help: "Time from a step's first command to its success, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}, []string{"step"}),
		stepFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_saga_step_failures_total",
			Help: "Step failures by step and kind: reported (<domain>.failed), timeout (an attempt passed its deadline), compensation (an undo failed or timed out).",
		}, []string{"step", "reason_kind"}),
		compensations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_saga_compensations_total", Help: "Compensations started, by step.",
		}, []string{"step"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "claw_saga_running", Help: "Sagas running or compensating, as last counted by the sweeper.",
		}),
		lifecycleStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_saga_kind_started_total", Help: "Sagas started, by kind (signup, plan_change, suspend, cancel, ...).",
		}, []string{"kind"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_saga_customer_events_total",
			Help: "Customer lifecycle events by subject and outcome (applied, ignored, duplicate, dropped; pending ones are counted when decided).",
		}, []string{"subject", "outcome"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_saga_customer_transitions_total", Help: "Customer state changes, by previous and new state.",
		}, []string{"from", "to"}),
		notices: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_saga_notices_total", Help: "Customer notices queued, by kind.",
		}, []string{"kind"}),
		timers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_saga_timers_fired_total", Help: "Lifecycle timers fired (grace, archive, delete).",
		}, []string{"timer"}),
	}
	var err error
	m.started, err = promreg.Register(reg, m.started)
	if err == nil {
		m.finished, err = promreg.Register(reg, m.finished)
	}
	if err == nil {
		m.duration, err = promreg.Register(reg, m.duration)
	}
	if err == nil {
		m.stepDuration, err = promreg.Register(reg, m.stepDuration)
	}
	if err == nil {
		m.stepFailures, err = promreg.Register(reg, m.stepFailures)
	}
	if err == nil {
		m.compensations, err = promreg.Register(reg, m.compensations)
	}
	if err == nil {
		m.running, err = promreg.Register(reg, m.running)
	}
	for _, v := range []**prometheus.CounterVec{&m.lifecycleStarted, &m.events, &m.transitions, &m.notices, &m.timers} {
		if err == nil {
			*v, err = promreg.Register(reg, *v)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("register saga metrics: %w", err)
	}
	return m, nil
}

// observe records a transition's notes and final status.
func (m *Metrics) observe(s *domain.Saga, out domain.Outcome) {
	for _, n := range out.Notes {
		switch n.Kind {
		case domain.NoteStepDone:
			m.stepDuration.WithLabelValues(string(n.Step)).Observe(n.Duration.Seconds())
		case domain.NoteStepFailure:
			m.stepFailures.WithLabelValues(string(n.Step), n.FailKind).Inc()
		case domain.NoteCompensationStarted:
			m.compensations.WithLabelValues(string(n.Step)).Inc()
		}
	}
	if out.Finished != "" {
		m.finished.WithLabelValues(string(out.Finished)).Inc()
		m.duration.WithLabelValues(string(out.Finished)).Observe(s.CompletedAt.Sub(s.CreatedAt).Seconds())
	}
}

// SetRunning sets the claw_saga_running gauge.
func (m *Metrics) SetRunning(n int) { m.running.Set(float64(n)) }
