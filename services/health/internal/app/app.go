// Package app holds the health service's bus handlers: the readiness check
// of a freshly provisioned instance (cmd.instance.check, check.go) and the
// events the monitoring side follows (events.go) to keep its table of live
// instances, raise alerts and send customer notices.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/health/internal/probe"
)

// ConsumerName is the durable consumer the service's replicas share.
const ConsumerName = "health"

// Prober makes one health probe; *probe.Prober satisfies it.
type Prober interface {
	Probe(ctx context.Context, healthURL string) probe.Result
}

// Options configure the App.
type Options struct {
	Log    *slog.Logger
	Bus    bus.Publisher
	Prober Prober
	// CheckTimeout is how long a new instance has to answer 200, counted
	// from the check's start or from its last "starting" answer.
	CheckTimeout time.Duration
	// StartTimeout bounds a check whose instance keeps answering 503
	// {"status":"starting"} (an openclaw engine's gateway starting); it is
	// at least CheckTimeout (the default when zero).
	StartTimeout time.Duration
	// MinInterval and MaxInterval bound the pause between probes, which
	// doubles from the first to the second. Defaults 25ms and 500ms.
	MinInterval, MaxInterval time.Duration
	// Metrics is where the service's metrics are registered.
	Metrics prometheus.Registerer
}

// App handles the health commands; the bus.StepWorker answers them,
// reports failures and counts.
type App struct {
	log     *slog.Logger
	worker  *bus.StepWorker
	prober  Prober
	timeout time.Duration
	start   time.Duration
	minWait time.Duration
	maxWait time.Duration
	m       *metrics
}

// New returns an App and registers its metrics.
func New(o Options) (*App, error) {
	if o.CheckTimeout <= 0 {
		return nil, fmt.Errorf("health: check timeout must be positive, got %v", o.CheckTimeout)
	}
	o.StartTimeout = max(o.StartTimeout, o.CheckTimeout)
	if o.MinInterval <= 0 {
		o.MinInterval = 25 * time.Millisecond
	}
	if o.MaxInterval < o.MinInterval {
		o.MaxInterval = max(500*time.Millisecond, o.MinInterval)
	}
	m, err := newMetrics(o.Metrics)
	if err != nil {
		return nil, err
	}
	w, err := bus.NewStepWorker(bus.StepConfig{
		Name: ConsumerName, Bus: o.Bus, Log: o.Log, Metrics: o.Metrics, Failed: subjects.InstanceFailed,
	})
	if err != nil {
		return nil, err
	}
	a := &App{log: o.Log, worker: w, prober: o.Prober, timeout: o.CheckTimeout, start: o.StartTimeout,
		minWait: o.MinInterval, maxWait: o.MaxInterval, m: m}
	bus.HandleStep(w, subjects.CmdInstanceCheck, subjects.InstanceReady, a.check)
	return a, nil
}

// Router routes the health commands to their handlers.
func (a *App) Router() *bus.Router { return a.worker.Router() }

// ConsumerConfig is the consumer the handlers run under. Checks mostly
// wait, so many run at once; a handler may outlive its own deadline only by
// the time it takes to publish the result.
func (a *App) ConsumerConfig(workers int) bus.ConsumerConfig {
	return bus.ConsumerConfig{
		Name:           ConsumerName,
		Filter:         subjects.CmdInstanceCheck,
		Workers:        workers,
		MaxAckPending:  4 * workers,
		HandlerTimeout: a.start + 30*time.Second,
	}
}
