package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/promreg"
	"clawdbot.cloud/proto/subjects"
)

// ConsumerName is the durable consumer of the compute service; its replicas
// share it.
const ConsumerName = "railway"

// Options are the dependencies of App.
type Options struct {
	// Bus carries the commands and the results.
	Bus *bus.Bus
	// Log receives one line per handled command.
	Log *slog.Logger
	// Metrics receives the operation metrics; nil registers none.
	Metrics prometheus.Registerer
	// Consumer tunes the bus consumer; Name is always ConsumerName and
	// MaxDeliver defaults to 8.
	Consumer bus.ConsumerConfig
	// Journal remembers deleted sagas; nil keeps none (tests of one command).
	Journal Journal
}

// Journal remembers which sagas' compute was deleted, so that a provision
// arriving or finishing after its saga's delete never leaves a runtime
// behind (the saga has already moved on and would never delete it again).
type Journal interface {
	MarkSagaDeleted(ctx context.Context, sagaID string) error
	SagaDeleted(ctx context.Context, sagaID string) (bool, error)
}

// App answers the compute commands with a Driver.
type App struct {
	bus      *bus.Bus
	log      *slog.Logger
	drv      Driver
	journal  Journal
	consumer bus.ConsumerConfig
	ops      *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// New returns the compute service's command handlers over drv. This is also
// the seam where tests inject a failing driver.
func New(o Options, drv Driver) (*App, error) {
	o.Consumer.Name = ConsumerName
	if o.Consumer.MaxDeliver == 0 {
		o.Consumer.MaxDeliver = 8
	}
	a := &App{
		bus:      o.Bus,
		log:      o.Log,
		drv:      drv,
		journal:  o.Journal,
		consumer: o.Consumer,
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_compute_operations_total",
			Help: "Compute commands handled by operation (provision, delete) and result (ok, retry, failed).",
		}, []string{"operation", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claw_compute_operation_duration_seconds",
			Help:    "Time to handle a compute command, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 10),
		}, []string{"operation"}),
	}
	if o.Metrics != nil {
		var err error
		if a.ops, err = promreg.Register(o.Metrics, a.ops); err != nil {
			return nil, err
		}
		if a.duration, err = promreg.Register(o.Metrics, a.duration); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Router routes the compute commands to their handlers.
func (a *App) Router() *bus.Router {
	r := bus.NewRouter()
	bus.Handle(r, subjects.CmdComputePrepare, a.prepare)
	bus.Handle(r, subjects.CmdComputeProvision, a.provision)
	bus.Handle(r, subjects.CmdComputeDelete, a.delete)
	bus.Handle(r, subjects.CmdComputeResize, a.resize)
	bus.Handle(r, subjects.CmdComputeStop, a.stop)
	bus.Handle(r, subjects.CmdComputeStart, a.start)
	bus.Handle(r, subjects.CmdComputeRestart, a.restart)
	return r
}

// Run consumes the compute commands until ctx ends, then lets in-flight
// handlers finish (see bus.ConsumerConfig.ShutdownGrace) and returns.
func (a *App) Run(ctx context.Context) error {
	return a.bus.Run(ctx, a.consumer, a.Router())
}

// observe records one handled command. result is derived from the error the
// handler returns.
func (a *App) observe(op string, start time.Time, err error) {
	result := "ok"
	switch {
	case bus.IsPermanent(err):
		result = "failed"
	case err != nil:
		result = "retry"
	}
	a.ops.WithLabelValues(op, result).Inc()
	a.duration.WithLabelValues(op).Observe(time.Since(start).Seconds())
}

// lastAttempt reports whether the message being handled will not be
// delivered again if this attempt fails.
func (a *App) lastAttempt(ctx context.Context) bool {
	d, ok := bus.DeliveryFrom(ctx)
	return ok && d.Attempt >= a.consumer.MaxDeliver
}

// sagaDeleted reports whether sagaID's compute was deleted.
func (a *App) sagaDeleted(ctx context.Context, sagaID string) (bool, error) {
	if a.journal == nil {
		return false, nil
	}
	return a.journal.SagaDeleted(ctx, sagaID)
}
