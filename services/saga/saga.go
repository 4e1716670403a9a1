// Package saga is the saga coordinator: it owns each customer's signup as a
// state machine persisted in Postgres (schema "saga"), sends the step
// commands, waits for their results, retries steps that time out and, when a
// step fails for good, runs the compensations of what was done in reverse
// order.
//
// Nothing lives only in memory. Every transition commits the saga, its steps
// and the messages it causes (an outbox) in one transaction under the saga's
// row lock; a relay publishes the outbox with deterministic message ids, and
// a sweeper fires deadlines stored with the steps. Stopping the coordinator
// at any point and starting another (or running several replicas) carries
// every saga on exactly once.
//
// Settings (environment or service.Env.Config):
//
//	SAGA_STEP_TIMEOUT      one attempt of a step or a compensation (default 30s)
//	SAGA_INSTANCE_TIMEOUT  one attempt of the compute step and of the instance check, which wait
//	                       for a new runtime (default 6m; compute and health bound it themselves)
//	SAGA_ENGINE_TIMEOUT    one attempt of a resize or a resume's start, which may start an OpenClaw
//	                       gateway (default 6m)
//	SAGA_STEP_ATTEMPTS     attempts per step and per compensation (default 3)
//	SAGA_SWEEP_INTERVAL    how often deadlines and the outbox are polled (default 500ms)
//	SAGA_OUTBOX_RETENTION  how long sent outbox messages are kept (default 168h)
//	SAGA_PAYMENT_GRACE     past_due → suspension after a failed payment (default 72h)
//	SAGA_ARCHIVE_AFTER     cancellation → archive (default 168h, day 7)
//	SAGA_DELETE_AFTER      cancellation → deletion for good (default 720h, day 30)
//	SAGA_PENDING_RETENTION how long events of unknown customers wait (default 168h)
package saga

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/saga/internal/admin"
	"clawdbot.cloud/services/saga/internal/app"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/relay"
	"clawdbot.cloud/services/saga/internal/store"
	"clawdbot.cloud/services/saga/internal/sweeper"
)

// ConsumerName is the durable consumer shared by every coordinator replica.
const ConsumerName = "saga"

// Config is the coordinator's configuration.
type Config struct {
	Policy           domain.Policy
	SweepInterval    time.Duration
	OutboxRetention  time.Duration
	Lifecycle        domain.Lifecycle
	PendingRetention time.Duration
}

// LoadConfig reads the coordinator's settings; problems are recorded in l.
func LoadConfig(l *config.Loader) Config {
	d := domain.DefaultPolicy
	c := Config{
		Policy: domain.Policy{
			StepTimeout:     l.Duration("SAGA_STEP_TIMEOUT", d.StepTimeout),
			InstanceTimeout: l.Duration("SAGA_INSTANCE_TIMEOUT", d.InstanceTimeout),
			EngineTimeout:   l.Duration("SAGA_ENGINE_TIMEOUT", d.EngineTimeout),
			MaxAttempts:     l.Int("SAGA_STEP_ATTEMPTS", d.MaxAttempts),
		},
		SweepInterval:   l.Duration("SAGA_SWEEP_INTERVAL", 500*time.Millisecond),
		OutboxRetention: l.Duration("SAGA_OUTBOX_RETENTION", 7*24*time.Hour),
		Lifecycle: domain.Lifecycle{
			Grace:        l.Duration("SAGA_PAYMENT_GRACE", domain.DefaultLifecycle.Grace),
			ArchiveAfter: l.Duration("SAGA_ARCHIVE_AFTER", domain.DefaultLifecycle.ArchiveAfter),
			DeleteAfter:  l.Duration("SAGA_DELETE_AFTER", domain.DefaultLifecycle.DeleteAfter),
		},
		PendingRetention: l.Duration("SAGA_PENDING_RETENTION", 7*24*time.Hour),
	}
	if c.Lifecycle.Grace <= 0 || c.Lifecycle.ArchiveAfter <= 0 || c.Lifecycle.DeleteAfter <= c.Lifecycle.ArchiveAfter {
		l.Problem("SAGA_PAYMENT_GRACE and SAGA_ARCHIVE_AFTER must be positive and SAGA_DELETE_AFTER after SAGA_ARCHIVE_AFTER")
	}
	if c.PendingRetention <= 0 {
		l.Problem("SAGA_PENDING_RETENTION must be positive")
	}
	if c.Policy.StepTimeout <= 0 || c.Policy.InstanceTimeout <= 0 || c.Policy.EngineTimeout <= 0 {
		l.Problem("SAGA_STEP_TIMEOUT, SAGA_INSTANCE_TIMEOUT and SAGA_ENGINE_TIMEOUT must be positive")
	}
	if c.Policy.MaxAttempts < 1 {
		l.Problem("SAGA_STEP_ATTEMPTS=%d must be at least 1", c.Policy.MaxAttempts)
	}
	if c.SweepInterval <= 0 {
		l.Problem("SAGA_SWEEP_INTERVAL must be positive")
	}
	return c
}

// Run runs the coordinator until ctx ends. It is a service.Service. Shutdown
// order: the consumer stops and its in-flight handlers finish, the sweeper
// stops, then the relay publishes what they queued and stops.
func Run(ctx context.Context, env *service.Env) error {
	cfg := LoadConfig(env.Config)
	if err := env.Config.Err(); err != nil {
		return err
	}
	now := env.Now
	if now == nil {
		now = time.Now
	}
	metrics, err := app.NewMetrics(env.Metrics)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, env.DB)
	if err != nil {
		return fmt.Errorf("saga store: %w", err)
	}
	rel, err := relay.New(st, env.Bus, now, cfg.SweepInterval, env.Log, env.Metrics)
	if err != nil {
		return err
	}
	a := app.New(app.Options{
		Store: st, Policy: cfg.Policy, Now: now, Log: env.Log, Metrics: metrics,
		Notify: rel.Kick, OutboxRetention: cfg.OutboxRetention,
		Lifecycle: cfg.Lifecycle, PendingRetention: cfg.PendingRetention,
	})
	sw := sweeper.New(a, cfg.SweepInterval, env.Log)

	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	relayDone := make(chan error, 1)
	go func() { relayDone <- rel.Run(relayCtx) }()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return env.Bus.Run(gctx, bus.ConsumerConfig{Name: ConsumerName}, a.Router()) })
	g.Go(func() error { return sw.Run(gctx) })
	g.Go(func() error { return admin.New(st, a, env.Log).Run(gctx, env.Bus.Conn()) })
	err = g.Wait()

	stopRelay()
	if rerr := <-relayDone; err == nil {
		err = rerr
	}
	return err
}
