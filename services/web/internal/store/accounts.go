package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Account is a customer the web app can sign in.
type Account struct {
	CustomerID        string
	Email             string
	Name              string
	Plan              string
	SubscriptionID    string
	CheckoutSessionID string
	InstanceURL       string
	// State is provisioning until the signup completes, then the lifecycle
	// state (active, past_due, suspended, canceled, archived, deleted).
	State string
	// Health is healthy, unhealthy or "" while unknown.
	Health    string
	CreatedAt time.Time
}

// SignedUp records a signup (customer.signed_up). A replay changes nothing
// it already knows; a returning customer keeps their row and takes the new
// checkout's facts.
func (s *Store) SignedUp(ctx context.Context, a Account) error {
	_, err := s.db.Exec(ctx, `
INSERT INTO web.accounts (customer_id, email, name, plan, subscription_id, checkout_session_id)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (customer_id) DO UPDATE SET
    email = excluded.email, name = excluded.name,
    plan = CASE WHEN web.accounts.checkout_session_id = excluded.checkout_session_id THEN web.accounts.plan ELSE excluded.plan END,
    subscription_id = excluded.subscription_id, checkout_session_id = excluded.checkout_session_id,
    updated_at = now()`,
		a.CustomerID, a.Email, a.Name, a.Plan, a.SubscriptionID, a.CheckoutSessionID)
	if err != nil {
		return fmt.Errorf("record signup of %s: %w", a.CustomerID, err)
	}
	return nil
}

// Provisioned records the instance URL of a completed signup saga and
// moves a provisioning account to active (the saga's own state reports
// refine it).
func (s *Store) Provisioned(ctx context.Context, customerID, instanceURL string) error {
	_, err := s.db.Exec(ctx, `
INSERT INTO web.accounts (customer_id, email, instance_url, state) VALUES ($1, '', $2, 'active')
ON CONFLICT (customer_id) DO UPDATE SET instance_url = excluded.instance_url,
    state = CASE WHEN web.accounts.state = 'provisioning' THEN 'active' ELSE web.accounts.state END,
    updated_at = now()`, customerID, instanceURL)
	if err != nil {
		return fmt.Errorf("record instance of %s: %w", customerID, err)
	}
	return nil
}

// StateChanged records a lifecycle state reported at the saga's time at;
// an older report than the one recorded changes nothing.
func (s *Store) StateChanged(ctx context.Context, customerID, state, plan string, at time.Time) error {
	_, err := s.db.Exec(ctx, `
INSERT INTO web.accounts (customer_id, email, state, plan, state_at) VALUES ($1, '', $2, $3, $4)
ON CONFLICT (customer_id) DO UPDATE SET
    state = excluded.state,
    plan = CASE WHEN excluded.plan <> '' THEN excluded.plan ELSE web.accounts.plan END,
    state_at = excluded.state_at, updated_at = now()
WHERE web.accounts.state_at <= excluded.state_at`, customerID, state, plan, at)
	if err != nil {
		return fmt.Errorf("record state of %s: %w", customerID, err)
	}
	return nil
}

// InstanceURL records where an instance answers now (a restart elsewhere).
func (s *Store) InstanceURL(ctx context.Context, customerID, url string) error {
	_, err := s.db.Exec(ctx, `UPDATE web.accounts SET instance_url = $2, updated_at = now()
		WHERE customer_id = $1 AND $2 <> ''`, customerID, url)
	if err != nil {
		return fmt.Errorf("record instance url of %s: %w", customerID, err)
	}
	return nil
}

// PlanChanged records the plan an instance now runs.
func (s *Store) PlanChanged(ctx context.Context, customerID, plan string) error {
	_, err := s.db.Exec(ctx, `UPDATE web.accounts SET plan = $2, updated_at = now() WHERE customer_id = $1 AND $2 <> ''`, customerID, plan)
	if err != nil {
		return fmt.Errorf("record plan of %s: %w", customerID, err)
	}
	return nil
}

// HealthChanged records an instance's health as of at; older reports
// change nothing.
func (s *Store) HealthChanged(ctx context.Context, customerID, health string, at time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE web.accounts SET health = $2, health_at = $3, updated_at = now()
		WHERE customer_id = $1 AND health_at <= $3`, customerID, health, at)
	if err != nil {
		return fmt.Errorf("record health of %s: %w", customerID, err)
	}
	return nil
}

const accountColumns = `customer_id, email, name, plan, subscription_id, checkout_session_id, instance_url, state, health, created_at`

// Account returns the account of a customer, or ErrNotFound.
func (s *Store) Account(ctx context.Context, customerID string) (Account, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+accountColumns+` FROM web.accounts WHERE customer_id = $1`, customerID)
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Account])
	if err != nil {
		return Account{}, notFound(err, "account")
	}
	return a, nil
}

// AccountByCheckout returns the account a Checkout Session created, or
// ErrNotFound while its signup has not been projected yet.
func (s *Store) AccountByCheckout(ctx context.Context, checkoutSessionID string) (Account, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+accountColumns+` FROM web.accounts WHERE checkout_session_id = $1
		ORDER BY created_at DESC LIMIT 1`, checkoutSessionID)
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Account])
	if err != nil {
		return Account{}, notFound(err, "account by checkout")
	}
	return a, nil
}

// AccountByEmail returns the newest account with this email (compared
// case-insensitively), or ErrNotFound.
func (s *Store) AccountByEmail(ctx context.Context, email string) (Account, error) {
	rows, _ := s.db.Query(ctx, `SELECT `+accountColumns+` FROM web.accounts WHERE lower(email) = lower($1)
		ORDER BY created_at DESC LIMIT 1`, email)
	a, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[Account])
	if err != nil {
		return Account{}, notFound(err, "account by email")
	}
	return a, nil
}
