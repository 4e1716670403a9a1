package store

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
)

func fsSub() (fs.FS, error) { return fs.Sub(migrations, "migrations") }

// Health states of an instance.
const (
	Healthy  = "healthy"
	Degraded = "degraded"
	Down     = "down"
)

// stoppedStates are the lifecycle states in which an instance is not
// probed: its compute is stopped or gone on purpose.
var stoppedStates = []string{"suspended", "canceled", "archived", "deleted"}

// Customer is what the service knows of one customer.
type Customer struct {
	ID, Email, Name, Plan string
	// Lifecycle is the last customer.state_changed state ("" before any).
	Lifecycle   string
	InstanceURL string
	// Running is true between compute.provisioned/started and
	// compute.stopped/deleted.
	Running bool
	Health  Health
}

// Health is an instance's probe history as the hysteresis needs it.
type Health struct {
	State string
	// Failures and Successes count consecutive probe outcomes.
	Failures, Successes int
	// IncidentID names the open problem (since the first failure after
	// healthy); "" when healthy.
	IncidentID string
	Since      time.Time
	// Restarts asked for in this incident.
	Restarts  int
	LastError string
}

// SignedUp records a customer's contact details.
func (s *Store) SignedUp(ctx context.Context, id, email, name, plan string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO health.customers AS customers (customer_id, email, name, plan) VALUES ($1, $2, $3, $4)
		ON CONFLICT (customer_id) DO UPDATE SET email = excluded.email, name = excluded.name,
		plan = CASE WHEN customers.plan = '' THEN excluded.plan ELSE customers.plan END`, id, email, name, plan)
	return wrap("signed up", id, err)
}

// ComputeUp records a running instance at url (provisioned or started).
// seq is the event's stream sequence (0 when unknown: always applied); an
// event older than the last one applied changes nothing, so a replayed
// compute.provisioned never revives a deleted instance.
func (s *Store) ComputeUp(ctx context.Context, id, url string, seq uint64) error {
	_, err := s.db.Exec(ctx, `INSERT INTO health.customers AS customers (customer_id, instance_url, running, compute_seq)
		VALUES ($1, $2, true, $3)
		ON CONFLICT (customer_id) DO UPDATE SET running = true, compute_seq = excluded.compute_seq,
		instance_url = CASE WHEN excluded.instance_url = '' THEN customers.instance_url ELSE excluded.instance_url END
		WHERE excluded.compute_seq = 0 OR excluded.compute_seq > customers.compute_seq`, id, url, int64(seq))
	return wrap("compute up", id, err)
}

// ComputeDown records a stopped or deleted instance and forgets its health
// (seq as for ComputeUp).
func (s *Store) ComputeDown(ctx context.Context, id string, seq uint64) error {
	_, err := s.db.Exec(ctx, `INSERT INTO health.customers AS customers (customer_id, compute_seq) VALUES ($1, $2)
		ON CONFLICT (customer_id) DO UPDATE SET running = false, health = 'healthy', failures = 0, compute_seq = excluded.compute_seq,
		successes = 0, incident_id = '', incident_since = NULL, restarts = 0, last_error = ''
		WHERE excluded.compute_seq = 0 OR excluded.compute_seq > customers.compute_seq`, id, int64(seq))
	return wrap("compute down", id, err)
}

// StateChanged records a lifecycle state, ignoring one older than the state
// already recorded (events of one customer may be replayed out of order).
func (s *Store) StateChanged(ctx context.Context, id, state, plan string, at time.Time) error {
	var atArg any
	if !at.IsZero() {
		atArg = at
	}
	_, err := s.db.Exec(ctx, `INSERT INTO health.customers AS customers (customer_id, lifecycle, lifecycle_at, plan) VALUES ($1, $2, $3, $4)
		ON CONFLICT (customer_id) DO UPDATE SET lifecycle = excluded.lifecycle, lifecycle_at = excluded.lifecycle_at,
		plan = CASE WHEN excluded.plan = '' THEN customers.plan ELSE excluded.plan END
		WHERE customers.lifecycle_at IS NULL OR excluded.lifecycle_at IS NULL OR excluded.lifecycle_at >= customers.lifecycle_at`,
		id, state, atArg, plan)
	return wrap("state changed", id, err)
}

// Get returns one customer, or ok false.
func (s *Store) Get(ctx context.Context, id string) (c Customer, ok bool, err error) {
	rows, err := s.db.Query(ctx, selectCustomers+` WHERE customer_id = $1`, id)
	if err != nil {
		return c, false, wrap("get", id, err)
	}
	cs, err := pgx.CollectRows(rows, scanCustomer)
	if err != nil || len(cs) == 0 {
		return c, false, wrap("get", id, err)
	}
	return cs[0], true, nil
}

// Live returns the instances to probe: running, with a URL, and not in a
// stopped lifecycle state (suspended, canceled, archived, deleted).
func (s *Store) Live(ctx context.Context) ([]Customer, error) {
	rows, err := s.db.Query(ctx, selectCustomers+` WHERE running AND instance_url <> '' AND NOT (lifecycle = ANY($1))
		ORDER BY customer_id`, stoppedStates)
	if err != nil {
		return nil, fmt.Errorf("live instances: %w", err)
	}
	return pgx.CollectRows(rows, scanCustomer)
}

// SaveHealth stores an instance's health after a probe, unless the
// instance stopped running meanwhile (a stop wins over a late probe).
func (s *Store) SaveHealth(ctx context.Context, id string, h Health, at time.Time) error {
	var since any
	if !h.Since.IsZero() {
		since = h.Since
	}
	_, err := s.db.Exec(ctx, `UPDATE health.customers SET health = $2, failures = $3, successes = $4, incident_id = $5,
		incident_since = $6, restarts = $7, last_error = $8, last_probe_at = $9 WHERE customer_id = $1 AND running`,
		id, h.State, h.Failures, h.Successes, h.IncidentID, since, h.Restarts, h.LastError, at)
	return wrap("save health", id, err)
}

const selectCustomers = `SELECT customer_id, email, name, plan, lifecycle, instance_url, running, health, failures,
	successes, incident_id, incident_since, restarts, last_error FROM health.customers`

func scanCustomer(row pgx.CollectableRow) (Customer, error) {
	var c Customer
	var since *time.Time
	err := row.Scan(&c.ID, &c.Email, &c.Name, &c.Plan, &c.Lifecycle, &c.InstanceURL, &c.Running, &c.Health.State,
		&c.Health.Failures, &c.Health.Successes, &c.Health.IncidentID, &since, &c.Health.Restarts, &c.Health.LastError)
	if since != nil {
		c.Health.Since = since.UTC()
	}
	return c, err
}

func wrap(op, id string, err error) error {
	if err == nil {
		return err
	}
	return fmt.Errorf("health store: %s %s: %w", op, id, err)
}
