package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/services/saga/internal/domain"
)

// Filter selects sagas for ListSagas; empty fields match everything.
type Filter struct {
	Status, Kind, CustomerID string
	Limit                    int
}

// ListSagas returns sagas matching f, newest first, without their steps.
func (st *Store) ListSagas(ctx context.Context, f Filter) ([]domain.Saga, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	rows, err := st.db.Query(ctx, `SELECT id, kind, customer_id, coalesce(checkout_session_id, ''), plan, status, failed_step,
		reason, cause, created_at, updated_at, completed_at FROM saga.sagas
		WHERE ($1 = '' OR status = $1) AND ($2 = '' OR kind = $2) AND ($3 = '' OR customer_id = $3)
		ORDER BY created_at DESC, id LIMIT $4`, f.Status, f.Kind, f.CustomerID, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list sagas: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (domain.Saga, error) {
		var s domain.Saga
		var completed *time.Time
		err := r.Scan(&s.ID, &s.Kind, &s.CustomerID, &s.CheckoutSessionID, &s.Plan, &s.Status, &s.FailedStep,
			&s.Reason, &s.Cause, &s.CreatedAt, &s.UpdatedAt, &completed)
		s.CompletedAt = deref(completed)
		return s, err
	})
	if err != nil {
		return nil, fmt.Errorf("list sagas: %w", err)
	}
	return out, nil
}

// CustomerView returns customer id (nil when unknown) and how many of its
// events are pending.
func (st *Store) CustomerView(ctx context.Context, id string) (*domain.Customer, int, error) {
	c, err := scanCustomer(st.db.QueryRow(ctx, `SELECT `+customerCols+` FROM saga.customers WHERE customer_id = $1`, id))
	if err != nil {
		return nil, 0, fmt.Errorf("customer %s: %w", id, err)
	}
	var n int
	if err := st.db.QueryRow(ctx, `SELECT count(*) FROM saga.customer_events WHERE customer_id = $1 AND status = 'pending'`, id).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("customer %s: %w", id, err)
	}
	return c, n, nil
}
