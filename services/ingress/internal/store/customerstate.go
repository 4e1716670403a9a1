package store

import (
	"context"
	"fmt"
	"time"
)

// CustomerState is a customer's lifecycle state as the saga reported it.
type CustomerState struct {
	CustomerID    string
	State         string
	PreviousState string
	Plan          string
	Cause         string
	// At is when the saga changed the state; Seq the report's stream
	// sequence. The latest (At, Seq) wins, whatever order reports arrive in.
	At  time.Time
	Seq uint64
}

// ApplyCustomerState records cs unless a later report is already recorded.
// Applying the same report again changes nothing.
func (s *Store) ApplyCustomerState(ctx context.Context, cs CustomerState) error {
	_, err := s.db.Exec(ctx, `
		INSERT INTO ingress.customer_states AS c (customer_id, state, previous_state, plan, cause, at, seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (customer_id) DO UPDATE SET
			state = excluded.state, previous_state = excluded.previous_state,
			plan = CASE WHEN excluded.plan <> '' THEN excluded.plan ELSE c.plan END,
			cause = excluded.cause, at = excluded.at, seq = excluded.seq, updated_at = now()
		WHERE (excluded.at, excluded.seq) > (c.at, c.seq)`,
		cs.CustomerID, cs.State, cs.PreviousState, cs.Plan, cs.Cause, cs.At, int64(cs.Seq))
	if err != nil {
		return fmt.Errorf("apply state of %s: %w", cs.CustomerID, err)
	}
	return nil
}
