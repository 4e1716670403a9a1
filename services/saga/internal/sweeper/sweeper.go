// Package sweeper fires the saga's timers: step deadlines and the customer
// lifecycle's due times (grace end, archive, deletion). Deadlines live in the database,
// not in memory, so a restarted coordinator (or another replica) sees every
// one; the sweeper periodically asks for those due by the coordinator's
// clock and expires them. Tests drive the clock and call Sweep directly.
package sweeper

import (
	"context"
	"errors"
	"log/slog"
	"time"
)

// Coordinator is what the sweeper drives (app.App).
type Coordinator interface {
	// DueSagas returns ids of sagas with a deadline due now, at most limit.
	DueSagas(ctx context.Context, limit int) ([]string, error)
	// Expire handles the due deadlines of one saga.
	Expire(ctx context.Context, id string) error
	// Housekeep does periodic upkeep (gauges, pruning).
	Housekeep(ctx context.Context) error
	// DueCustomers returns customers with a lifecycle timer due, a finished
	// saga to settle or pending events, at most limit.
	DueCustomers(ctx context.Context, limit int) ([]string, error)
	// Reconcile brings one customer up to date.
	Reconcile(ctx context.Context, id string) error
}

// batch bounds one query for due sagas.
const batch = 100

// housekeepEvery is how often, in sweeps, Housekeep runs.
const housekeepEvery = 10

// Sweeper expires due deadlines at an interval.
type Sweeper struct {
	c        Coordinator
	interval time.Duration
	log      *slog.Logger
	sweeps   int
}

// New returns a sweeper that sweeps every interval.
func New(c Coordinator, interval time.Duration, log *slog.Logger) *Sweeper {
	return &Sweeper{c: c, interval: interval, log: log}
}

// Run sweeps until ctx ends.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sweep", "err", err)
		}
		if s.sweeps%housekeepEvery == 0 {
			if err := s.c.Housekeep(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("housekeeping", "err", err)
			}
		}
		s.sweeps++
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep expires every deadline due now. A saga that fails to expire is
// retried at the next sweep; the others go on.
func (s *Sweeper) Sweep(ctx context.Context) error {
	var errs []error
	for range 10 { // bounded: at most 10 batches per sweep
		ids, err := s.c.DueSagas(ctx, batch)
		if err != nil {
			return err
		}
		failed := 0
		for _, id := range ids {
			if err := s.c.Expire(ctx, id); err != nil {
				s.log.Warn("expire saga deadline", "saga_id", id, "err", err)
				errs = append(errs, err)
				failed++
			}
		}
		if len(ids) < batch || failed > 0 {
			break
		}
	}
	// Customers second: a saga that just finished above is settled now.
	ids, err := s.c.DueCustomers(ctx, batch)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, id := range ids {
		if err := s.c.Reconcile(ctx, id); err != nil {
			s.log.Warn("reconcile customer", "customer_id", id, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
