package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/secrets"
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
	// Metrics receives the step metrics; nil registers none.
	Metrics prometheus.Registerer
	// Consumer tunes the bus consumer; Name is always ConsumerName and
	// MaxDeliver defaults to bus.DefaultMaxDeliver.
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

// App answers the compute commands with a Driver; the bus.StepWorker does
// the protocol (answers, compute.failed, retries, metrics).
type App struct {
	bus      *bus.Bus
	log      *slog.Logger
	drv      Driver
	journal  Journal
	consumer bus.ConsumerConfig
	worker   *bus.StepWorker
}

// New returns the compute service's command handlers over drv. This is also
// the seam where tests inject a failing driver.
func New(o Options, drv Driver) (*App, error) {
	o.Consumer.Name = ConsumerName
	o.Consumer.Filter = subjects.CmdComputeAll
	if o.Consumer.MaxDeliver == 0 {
		o.Consumer.MaxDeliver = bus.DefaultMaxDeliver
	}
	w, err := bus.NewStepWorker(bus.StepConfig{
		Name: ConsumerName, Bus: o.Bus, Log: o.Log, Metrics: o.Metrics,
		Failed: subjects.ComputeFailed, Permanent: permanent,
	})
	if err != nil {
		return nil, err
	}
	a := &App{bus: o.Bus, log: o.Log, drv: drv, journal: o.Journal, consumer: o.Consumer, worker: w}
	bus.HandleStep(w, subjects.CmdComputePrepare, subjects.ComputePrepared, a.prepare)
	bus.HandleStep(w, subjects.CmdComputeProvision, subjects.ComputeProvisioned, a.provision)
	bus.HandleStep(w, subjects.CmdComputeDelete, subjects.ComputeDeleted, a.delete)
	bus.HandleStep(w, subjects.CmdComputeResize, subjects.ComputeResized, a.resize)
	bus.HandleStep(w, subjects.CmdComputeStop, subjects.ComputeStopped, a.stop)
	bus.HandleStep(w, subjects.CmdComputeStart, subjects.ComputeStarted, a.start)
	// Nothing waits on a restart (the health service asks for it).
	bus.HandleStep(w, subjects.CmdComputeRestart, subjects.ComputeRestarted, a.restart, bus.WithoutFailedEvent())
	return a, nil
}

// Router routes the compute commands to their handlers.
func (a *App) Router() *bus.Router { return a.worker.Router() }

// Run consumes the compute commands until ctx ends, then lets in-flight
// handlers finish (see bus.ConsumerConfig.ShutdownGrace) and returns.
func (a *App) Run(ctx context.Context) error {
	return a.bus.Run(ctx, a.consumer, a.Router())
}

// permanent reports whether retrying the command that produced err is
// useless: the driver refused it or its deployment failed, its database URL
// or plan does not exist, or there is no instance to act on.
func permanent(err error) bool {
	return errors.Is(err, ErrRejected) || errors.Is(err, ErrDeployFailed) || errors.Is(err, ErrNotFound) ||
		errors.Is(err, secrets.ErrNotFound) || errors.Is(err, plans.ErrUnknownPlan)
}

// sagaDeleted reports whether sagaID's compute was deleted.
func (a *App) sagaDeleted(ctx context.Context, sagaID string) (bool, error) {
	if a.journal == nil {
		return false, nil
	}
	return a.journal.SagaDeleted(ctx, sagaID)
}
