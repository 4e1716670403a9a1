package bus

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/promreg"
)

// Results of a step command, the result label of claw_step_commands_total.
const (
	resultOK     = "ok"     // carried out (answered, or nothing to answer)
	resultReplay = "replay" // carried out before (journal); acknowledged, nothing done
	resultRetry  = "retry"  // failed for now; redelivered
	resultFailed = "failed" // failed for good; <domain>.failed published, dead-lettered
)

type stepMetrics struct {
	consumer string
	commands *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newStepMetrics(reg prometheus.Registerer, consumer string) (*stepMetrics, error) {
	m := &stepMetrics{
		consumer: consumer,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_step_commands_total",
			Help: "Step commands handled, by consumer, command subject and result (ok, replay, retry, failed).",
		}, []string{"consumer", "command", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claw_step_command_duration_seconds",
			Help:    "Time to handle one delivery of a step command, by consumer and command subject.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}, []string{"consumer", "command"}),
	}
	var err error
	if m.commands, err = promreg.Register(reg, m.commands); err != nil {
		return nil, fmt.Errorf("register step metrics: %w", err)
	}
	if m.duration, err = promreg.Register(reg, m.duration); err != nil {
		return nil, fmt.Errorf("register step metrics: %w", err)
	}
	return m, nil
}

// observe records one handled delivery of command that started at start.
func (m *stepMetrics) observe(command, result string, start time.Time) {
	m.commands.WithLabelValues(m.consumer, command, result).Inc()
	m.duration.WithLabelValues(m.consumer, command).Observe(time.Since(start).Seconds())
}
