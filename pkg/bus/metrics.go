package bus

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	published   *prometheus.CounterVec
	handled     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	deadLetters *prometheus.CounterVec
	inFlight    *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_bus_published_total",
			Help: "Messages published to JetStream by subject and result (stored, duplicate, error).",
		}, []string{"subject", "result"}),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_bus_handled_total",
			Help: "Messages handled by consumer, subject and outcome (ack, retry, term).",
		}, []string{"consumer", "subject", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claw_bus_handler_duration_seconds",
			Help:    "Handler duration by consumer and subject.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"consumer", "subject"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_bus_dead_letters_total",
			Help: "Messages moved to the dead-letter stream by consumer and subject.",
		}, []string{"consumer", "subject"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "claw_bus_handlers_in_flight",
			Help: "Handlers running now by consumer.",
		}, []string{"consumer"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.published, m.handled, m.duration, m.deadLetters, m.inFlight} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register bus metrics: %w", err)
		}
	}
	return m, nil
}
