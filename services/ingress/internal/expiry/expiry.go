// Package expiry deletes the API keys nobody revealed in time: a signup's
// key may be revealed for a TTL after it became ready (24 hours by
// default); past that, its secret is deleted and the row marked expired, so
// an abandoned reveal does not keep a working credential in storage.
package expiry

import (
	"context"
	"log/slog"
	"time"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/ingress/internal/store"
)

// Batch bounds the rows one pass handles; a pass that fills it runs again
// at once, so a backlog drains without one long transaction or query.
const Batch = 100

// Store lists and marks expired reveals: *store.Store.
type Store interface {
	Unrevealed(ctx context.Context, readyBefore time.Time, limit int) ([]store.Unrevealed, error)
	MarkExpired(ctx context.Context, checkoutSessionID string) (bool, error)
}

// Secrets deletes a secret (deleting a missing one is no error), and the
// revealed ones whose grace window passed: *secrets.Store.
type Secrets interface {
	Delete(ctx context.Context, ref string) error
	SweepRevealed(ctx context.Context, grace time.Duration) (int64, error)
}

// Sweeper expires unrevealed keys.
type Sweeper struct {
	Store   Store
	Secrets Secrets
	Log     *slog.Logger
	// TTL is how long after ready a key may be revealed.
	TTL time.Duration
	// Grace is the reveal's grace window: a revealed key is deleted this
	// long after it was first shown, if nobody asked again after it.
	Grace time.Duration
	// Interval is the time between passes.
	Interval time.Duration
	Now      func() time.Time
	// Expired, when set, is called with 1 for each key deleted.
	Expired func(n int)
}

// Run sweeps once at once, then every Interval, until ctx ends. A failed
// pass is logged and retried at the next tick.
func (s *Sweeper) Run(ctx context.Context) {
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	for {
		if n, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.Log.Error("expire unrevealed api keys", "err", err, "expired", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Sweep expires every key ready for longer than TTL and not revealed, a
// batch at a time, and returns how many it expired. The secret is deleted
// before the row is marked, so a failure leaves the row to the next pass.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	total := 0
	if n, err := s.Secrets.SweepRevealed(ctx, s.Grace); err != nil {
		return 0, err
	} else if n > 0 {
		s.Log.Info("revealed api keys deleted after their grace window", "deleted", n)
	}
	for {
		rows, err := s.Store.Unrevealed(ctx, s.Now().Add(-s.TTL), Batch)
		if err != nil {
			return total, err
		}
		for _, r := range rows {
			if r.APIKeyRef != "" {
				if err := s.Secrets.Delete(ctx, r.APIKeyRef); err != nil {
					return total, err
				}
			}
			marked, err := s.Store.MarkExpired(ctx, r.CheckoutSessionID)
			if err != nil {
				return total, err
			}
			if marked {
				total++
				if s.Expired != nil {
					s.Expired(1)
				}
				s.Log.Info("unrevealed api key expired and deleted", "checkout_ref", names.CheckoutRef(r.CheckoutSessionID))
			}
		}
		if len(rows) < Batch {
			return total, nil
		}
	}
}
