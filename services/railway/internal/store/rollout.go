package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Phases of a recorded OpenClaw rollout.
const (
	// RolloutOut: instances are being moved to the new version.
	RolloutOut = "rolling_out"
	// RolloutBack: an instance failed; the moved ones are being moved back.
	RolloutBack = "rolling_back"
)

// ErrRolloutUnfinished refuses a rollout while another one is recorded.
var ErrRolloutUnfinished = errors.New("an openclaw rollout is unfinished")

// Rollout is the OpenClaw rollout in progress, as recorded.
type Rollout struct {
	// To is the version it moves instances to.
	To string
	// Batch is how many instances move at once.
	Batch int
	// Timeout is how long a moved instance has to answer /health 200.
	Timeout time.Duration
	// Phase is RolloutOut or RolloutBack.
	Phase string
	// Failure is why it is rolling back.
	Failure string
	// Started is when it began.
	Started time.Time
	// Moves are the instances it moved, in the order it moved them.
	Moves []RolloutMove
}

// RolloutMove is an instance a rollout moved to its version.
type RolloutMove struct {
	CustomerID string
	// From is the version it ran before.
	From string
	// Healthy reports that it answered /health 200 on the new version.
	Healthy bool
}

// BeginRollout records r (To, Batch, Timeout) as the rollout in progress,
// or fails with ErrRolloutUnfinished when one is recorded already.
func (s *Store) BeginRollout(ctx context.Context, r Rollout) error {
	tag, err := s.db.Exec(ctx, `INSERT INTO railway.openclaw_rollout (to_version, batch, timeout_ms, phase)
		VALUES ($1, $2, $3, $4) ON CONFLICT (one) DO NOTHING`,
		r.To, r.Batch, r.Timeout.Milliseconds(), RolloutOut)
	if err != nil {
		return fmt.Errorf("begin openclaw rollout to %s: %w", r.To, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrRolloutUnfinished
	}
	return nil
}

// UnfinishedRollout returns the rollout in progress, false when none is.
func (s *Store) UnfinishedRollout(ctx context.Context) (Rollout, bool, error) {
	var r Rollout
	var ms int64
	err := s.db.QueryRow(ctx, `SELECT to_version, batch, timeout_ms, phase, failure, started_at
		FROM railway.openclaw_rollout`).Scan(&r.To, &r.Batch, &ms, &r.Phase, &r.Failure, &r.Started)
	if errors.Is(err, pgx.ErrNoRows) {
		return Rollout{}, false, nil
	}
	if err != nil {
		return Rollout{}, false, fmt.Errorf("read openclaw rollout: %w", err)
	}
	r.Timeout = time.Duration(ms) * time.Millisecond
	rows, err := s.db.Query(ctx, `SELECT customer_id, from_version, healthy FROM railway.openclaw_rollout_moves
		ORDER BY moved_at, customer_id`)
	if err != nil {
		return Rollout{}, false, fmt.Errorf("read openclaw rollout moves: %w", err)
	}
	r.Moves, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RolloutMove, error) {
		var m RolloutMove
		return m, row.Scan(&m.CustomerID, &m.From, &m.Healthy)
	})
	if err != nil {
		return Rollout{}, false, fmt.Errorf("read openclaw rollout moves: %w", err)
	}
	return r, true, nil
}

// MoveOpenClawVersion records, in one transaction, that the rollout moves
// the customer's instance from version from to version to: the instance's
// version, and the move (kept with its first from, should it move again).
func (s *Store) MoveOpenClawVersion(ctx context.Context, customerID, from, to string) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO railway.openclaw_rollout_moves (customer_id, from_version)
			VALUES ($1, $2) ON CONFLICT (customer_id) DO UPDATE SET healthy = false`, customerID, from); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE railway.instances SET openclaw_version = $2, updated_at = now()
			WHERE customer_id = $1`, customerID, to)
		return err
	})
	if err != nil {
		return fmt.Errorf("move %s to openclaw %s: %w", customerID, to, err)
	}
	return nil
}

// RolloutMoveHealthy records that the customer's moved instance answered
// /health 200 on the rollout's version.
func (s *Store) RolloutMoveHealthy(ctx context.Context, customerID string) error {
	if _, err := s.db.Exec(ctx, `UPDATE railway.openclaw_rollout_moves SET healthy = true WHERE customer_id = $1`,
		customerID); err != nil {
		return fmt.Errorf("record %s healthy in the openclaw rollout: %w", customerID, err)
	}
	return nil
}

// RollingBack records that the rollout in progress is rolling back, and why.
func (s *Store) RollingBack(ctx context.Context, failure string) error {
	if _, err := s.db.Exec(ctx, `UPDATE railway.openclaw_rollout SET phase = $1, failure = $2`,
		RolloutBack, failure); err != nil {
		return fmt.Errorf("record the openclaw rollout rolling back: %w", err)
	}
	return nil
}

// EndRollout forgets the rollout in progress, in one transaction with
// pinning pin when it is not "" (the rollout succeeded).
func (s *Store) EndRollout(ctx context.Context, pin string) error {
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM railway.openclaw_rollout_moves`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM railway.openclaw_rollout`); err != nil {
			return err
		}
		if pin == "" {
			return nil
		}
		_, err := tx.Exec(ctx, `INSERT INTO railway.openclaw_pin (version) VALUES ($1)
			ON CONFLICT (one) DO UPDATE SET version = excluded.version, updated_at = now()`, pin)
		return err
	})
	if err != nil {
		return fmt.Errorf("end openclaw rollout: %w", err)
	}
	return nil
}
