// Package app is the coordinator's use cases: it feeds bus events and timer
// expiries to the domain state machine inside a store transaction and turns
// what the machine decides into outbox messages, logs and metrics.
package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// Store is what the coordinator needs from persistence (store.Store).
type Store interface {
	Create(ctx context.Context, s *domain.Saga, out []store.Message, now time.Time) (bool, error)
	Update(ctx context.Context, id string, now time.Time, fn func(*domain.Saga) ([]store.Message, bool, error)) error
	Due(ctx context.Context, now time.Time, limit int) ([]string, error)
	CountActive(ctx context.Context) (int, error)
	PruneOutbox(ctx context.Context, before time.Time) (int64, error)
	WithCustomer(ctx context.Context, id string, now time.Time, fn func(q *store.CustomerTx) error) error
	CustomersToReconcile(ctx context.Context, now time.Time, limit int) ([]string, error)
	DropPending(ctx context.Context, before, now time.Time) (int64, error)
	Get(ctx context.Context, id string) (*domain.Saga, error)
}

// Options configures an App.
type Options struct {
	// Store persists sagas and their outbox.
	Store Store
	// Policy is the per-step timeout and retry policy.
	Policy domain.Policy
	// Now is the clock every deadline is set and checked by (env.Now).
	Now func() time.Time
	// Log receives transitions with saga_id and customer_id.
	Log *slog.Logger
	// Metrics records transitions; see NewMetrics.
	Metrics *Metrics
	// Notify is called after a committed transition queued messages, so the
	// relay publishes them now rather than at its next poll.
	Notify func()
	// OutboxRetention is how long sent outbox messages are kept for
	// inspection.
	OutboxRetention time.Duration
	// Lifecycle is the timing of the customer lifecycle's timers.
	Lifecycle domain.Lifecycle
	// PendingRetention is how long an event of an unknown (or busy)
	// customer is kept before it is dropped with a recorded reason.
	PendingRetention time.Duration
}

// App coordinates the sagas and the customer lifecycle. It keeps nothing in memory between calls:
// any replica, or a restarted one, carries on every saga from the store.
type App struct {
	Options
}

// New returns an App.
func New(o Options) *App {
	if o.Notify == nil {
		o.Notify = func() {}
	}
	return &App{Options: o}
}

// Apply runs one transition of saga id under its row lock. what names the
// input for logs. An unknown saga is ignored: results of other kinds of
// sagas, or of sagas deleted by an operator, are not ours to act on.
func (a *App) Apply(ctx context.Context, id, what string, fn func(s *domain.Saga, now time.Time) domain.Outcome) error {
	now := a.Now()
	var saga *domain.Saga
	var out domain.Outcome
	err := a.Store.Update(ctx, id, now, func(s *domain.Saga) ([]store.Message, bool, error) {
		saga, out = s, fn(s, now)
		if !out.Changed {
			return nil, false, nil
		}
		msgs, err := messagesFor(s, out)
		return msgs, true, err
	})
	if errors.Is(err, store.ErrNotFound) {
		a.Log.Debug("no such saga; ignored", "saga_id", id, "input", what)
		return nil
	}
	if err != nil {
		return err
	}
	log := a.Log.With("saga_id", saga.ID, "customer_id", saga.CustomerID, "input", what)
	if !out.Changed {
		log.Debug("ignored", "why", out.Ignored)
		return nil
	}
	a.after(log, saga, out)
	if out.Finished != "" {
		// The customer follows its saga's end. If this fails, the sweeper
		// finds the finished active saga and settles it.
		if err := a.Reconcile(ctx, saga.CustomerID); err != nil {
			log.Warn("settle customer after saga; the sweeper retries", "err", err)
		}
	}
	return nil
}

// after reports a committed transition.
func (a *App) after(log *slog.Logger, s *domain.Saga, out domain.Outcome) {
	a.Metrics.observe(s, out)
	for _, n := range out.Notes {
		if n.Kind == domain.NoteStepFailure {
			log.Warn("step failed", "step", n.Step, "kind", n.FailKind, "error", s.Step(n.Step).Error)
		}
	}
	for _, c := range out.Sends {
		log.Info("command queued", "step", c.Step, "attempt", c.Attempt, "compensation", c.Compensation)
	}
	switch out.Finished {
	case domain.Completed:
		log.Info("saga completed", "duration", s.CompletedAt.Sub(s.CreatedAt))
	case domain.Compensated:
		log.Warn("saga compensated", "failed_step", s.FailedStep, "reason", s.Reason)
	case domain.Failed:
		log.Error("saga failed: compensation could not finish; operator attention needed", "failed_step", s.FailedStep, "reason", s.Reason)
	}
	if len(out.Sends) > 0 || out.Finished != "" {
		a.Notify()
	}
}

// DueSagas returns sagas with a deadline due now, at most limit.
func (a *App) DueSagas(ctx context.Context, limit int) ([]string, error) {
	return a.Store.Due(ctx, a.Now(), limit)
}

// Expire handles the due deadlines of saga id.
func (a *App) Expire(ctx context.Context, id string) error {
	return a.Apply(ctx, id, "deadline", func(s *domain.Saga, now time.Time) domain.Outcome {
		return s.Expire(now, a.Policy)
	})
}

// DueCustomers returns customers with a timer due, a finished saga to
// settle or pending events to apply, at most limit.
func (a *App) DueCustomers(ctx context.Context, limit int) ([]string, error) {
	return a.Store.CustomersToReconcile(ctx, a.Now(), limit)
}

// Housekeep refreshes the running gauge and prunes old sent outbox rows.
func (a *App) Housekeep(ctx context.Context) error {
	n, err := a.Store.CountActive(ctx)
	if err != nil {
		return err
	}
	a.Metrics.SetRunning(n)
	if a.PendingRetention > 0 {
		now := a.Now()
		n, err := a.Store.DropPending(ctx, now.Add(-a.PendingRetention), now)
		if err != nil {
			return err
		}
		if n > 0 {
			a.Metrics.events.WithLabelValues("any", domain.EventDropped).Add(float64(n))
			a.Log.Warn("pending customer events dropped after the retention window", "count", n)
		}
	}
	if a.OutboxRetention > 0 {
		if _, err := a.Store.PruneOutbox(ctx, a.Now().Add(-a.OutboxRetention)); err != nil {
			return err
		}
	}
	return nil
}
