package app

import (
	"context"
	"errors"
	"fmt"

	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// Admin errors, mapped to the admin replies' codes.
var (
	// ErrNotFound: no such customer or saga.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the action does not apply to the current state.
	ErrConflict = errors.New("conflict")
)

// Retry starts a new saga redoing saga id, which ended compensated or
// failed, and returns the new saga's id.
func (a *App) Retry(ctx context.Context, id string) (string, error) {
	old, err := a.Store.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("saga %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", err
	}
	return a.operate(ctx, old.CustomerID, func(q *store.CustomerTx, c *domain.Customer) (domain.Verdict, error) {
		n, err := q.CountRetries(old.ID)
		if err != nil {
			return domain.Verdict{}, err
		}
		return c.Retry(old, n+1, a.Now(), a.Policy)
	})
}

// Deprovision starts the force-deprovision saga of customer id.
func (a *App) Deprovision(ctx context.Context, id, reason string) (string, error) {
	sagaID, err := a.operate(ctx, id, func(_ *store.CustomerTx, c *domain.Customer) (domain.Verdict, error) {
		return c.Deprovision(a.Now(), a.Policy)
	})
	if err == nil {
		a.Log.Warn("force-deprovision", "customer_id", id, "saga_id", sagaID, "reason", reason)
	}
	return sagaID, err
}

// operate runs an operator action on customer id under its lock.
func (a *App) operate(ctx context.Context, id string, fn func(*store.CustomerTx, *domain.Customer) (domain.Verdict, error)) (string, error) {
	now := a.Now()
	var rep report
	var sagaID string
	err := a.Store.WithCustomer(ctx, id, now, func(q *store.CustomerTx) error {
		rep = report{}
		c, err := q.Customer(id)
		if err != nil {
			return err
		}
		if c == nil {
			return fmt.Errorf("customer %s: %w", id, ErrNotFound)
		}
		v, err := fn(q, c)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
		if err := a.emit(q, c, v, now, &rep); err != nil {
			return err
		}
		sagaID = v.Saga.ID
		return q.SaveCustomer(c)
	})
	if err != nil {
		return "", err
	}
	a.reported(a.Log.With("customer_id", id), &rep)
	return sagaID, nil
}
