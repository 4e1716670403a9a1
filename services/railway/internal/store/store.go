// Package store keeps the compute service's instances in its own Postgres
// schema, "railway": for each customer the port, plan, database reference,
// desired state and the live process of their runtime.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/migrate"
)

// Schema is the Postgres schema the compute service owns.
const Schema = "railway"

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned for a customer without an instance row.
var ErrNotFound = errors.New("instance not found")

// ErrPortTaken is returned when another running instance already holds the port.
var ErrPortTaken = errors.New("port already assigned to another running instance")

// State is an instance's desired state.
type State string

// Desired states.
const (
	// Running instances are (re)started by the driver, also after a restart
	// of the service.
	Running State = "running"
	// Stopped instances keep their row and port but run no runtime: a
	// responder answers there with the stop reason until Start.
	Stopped State = "stopped"
	// Deleted instances are tombstones: stopped for good until provisioned again.
	Deleted State = "deleted"
)

// Instance is one customer's row.
type Instance struct {
	// CustomerID is the platform customer id, the key.
	CustomerID string
	// ServiceName is names.Service(CustomerID).
	ServiceName string
	// Port on 127.0.0.1; kept across restarts.
	Port int
	// Plan is the plan id; VCPUs and MemoryMB its compute size when provisioned.
	Plan     string
	VCPUs    float64
	MemoryMB int
	// DatabaseRef names the customer's database URL in the secret store.
	DatabaseRef string
	// Desired is whether the instance should run.
	Desired State
	// PID is the live child process, 0 when none is recorded.
	PID int
	// StartedAt is when PID started; zero when none is recorded.
	StartedAt time.Time
	// Restarts counts restarts (after crashes or on request) since provisioning.
	Restarts int
	// StopReason is why a stopped instance is stopped (suspended, canceled).
	StopReason string
	// OpenClawVersion is the OpenClaw install its runtime runs on the
	// openclaw engine (a directory of OPENCLAW_INSTALLS); "" until it first
	// starts on that engine.
	OpenClawVersion string
}

// Store reads and writes instances.
type Store struct {
	db *pgxpool.Pool
}

// Open applies the schema's migrations and returns a Store.
func Open(ctx context.Context, db *pgxpool.Pool) (*Store, error) {
	sub, err := subFS()
	if err != nil {
		return nil, err
	}
	if err := migrate.Apply(ctx, db, Schema, sub); err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}

const columns = `customer_id, service_name, port, plan, database_ref, vcpus, memory_mb,
	desired_state, coalesce(pid, 0), started_at, restarts, stop_reason, openclaw_version`

func scan(row pgx.Row) (Instance, error) {
	var in Instance
	var started *time.Time
	err := row.Scan(&in.CustomerID, &in.ServiceName, &in.Port, &in.Plan, &in.DatabaseRef, &in.VCPUs,
		&in.MemoryMB, &in.Desired, &in.PID, &started, &in.Restarts, &in.StopReason, &in.OpenClawVersion)
	if started != nil {
		in.StartedAt = *started
	}
	return in, err
}

// Get returns the customer's instance, or ErrNotFound.
func (s *Store) Get(ctx context.Context, customerID string) (Instance, error) {
	in, err := scan(s.db.QueryRow(ctx, `SELECT `+columns+` FROM railway.instances WHERE customer_id = $1`, customerID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Instance{}, fmt.Errorf("instance of %s: %w", customerID, ErrNotFound)
	}
	if err != nil {
		return Instance{}, fmt.Errorf("get instance of %s: %w", customerID, err)
	}
	return in, nil
}

// Active lists the instances that want to run or still have a recorded
// process: what a starting driver must look at.
func (s *Store) Active(ctx context.Context) ([]Instance, error) {
	rows, err := s.db.Query(ctx, `SELECT `+columns+` FROM railway.instances
		WHERE desired_state IN ('running', 'stopped') OR pid IS NOT NULL ORDER BY customer_id`)
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Instance, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("list instances: %w", err)
	}
	return out, nil
}

// Put records in as a running instance, replacing a tombstone of the same
// customer (restarts start again from zero). ErrPortTaken reports a port
// collision with another running instance.
func (s *Store) Put(ctx context.Context, in Instance) error {
	_, err := s.db.Exec(ctx, `INSERT INTO railway.instances
		(customer_id, service_name, port, plan, database_ref, vcpus, memory_mb, desired_state)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 'running')
		ON CONFLICT (customer_id) DO UPDATE SET service_name = excluded.service_name, port = excluded.port,
			plan = excluded.plan, database_ref = excluded.database_ref, vcpus = excluded.vcpus,
			memory_mb = excluded.memory_mb, desired_state = 'running', stop_reason = '', restarts = 0,
			openclaw_version = '', updated_at = now()`,
		in.CustomerID, in.ServiceName, in.Port, in.Plan, in.DatabaseRef, in.VCPUs, in.MemoryMB)
	return portErr(err, "put instance of "+in.CustomerID)
}

// SetPort moves the customer's instance to port (its old one was taken by
// another program). ErrPortTaken reports a collision with another instance.
func (s *Store) SetPort(ctx context.Context, customerID string, port int) error {
	_, err := s.db.Exec(ctx, `UPDATE railway.instances SET port = $2, updated_at = now() WHERE customer_id = $1`,
		customerID, port)
	return portErr(err, "set port of "+customerID)
}

// Started records the customer's live process.
func (s *Store) Started(ctx context.Context, customerID string, pid int, at time.Time) error {
	_, err := s.db.Exec(ctx, `UPDATE railway.instances SET pid = $2, started_at = $3, updated_at = now()
		WHERE customer_id = $1`, customerID, pid, at)
	if err != nil {
		return fmt.Errorf("record start of %s: %w", customerID, err)
	}
	return nil
}

// Exited records that the customer's process is gone. restarted counts it
// as a restart (a crash or a requested restart, not a stop).
func (s *Store) Exited(ctx context.Context, customerID string, restarted bool) error {
	_, err := s.db.Exec(ctx, `UPDATE railway.instances SET pid = NULL,
		restarts = restarts + CASE WHEN $2 THEN 1 ELSE 0 END, updated_at = now()
		WHERE customer_id = $1`, customerID, restarted)
	if err != nil {
		return fmt.Errorf("record exit of %s: %w", customerID, err)
	}
	return nil
}

// SetStopped records the customer's instance as stopped for reason. Its
// port stays reserved.
func (s *Store) SetStopped(ctx context.Context, customerID, reason string) error {
	_, err := s.db.Exec(ctx, `UPDATE railway.instances SET desired_state = 'stopped', stop_reason = $2,
		updated_at = now() WHERE customer_id = $1 AND desired_state <> 'deleted'`, customerID, reason)
	if err != nil {
		return fmt.Errorf("mark %s stopped: %w", customerID, err)
	}
	return nil
}

// SetRunning records a stopped instance as wanting to run again.
func (s *Store) SetRunning(ctx context.Context, customerID string) error {
	_, err := s.db.Exec(ctx, `UPDATE railway.instances SET desired_state = 'running', stop_reason = '',
		updated_at = now() WHERE customer_id = $1 AND desired_state = 'stopped'`, customerID)
	if err != nil {
		return fmt.Errorf("mark %s running: %w", customerID, err)
	}
	return nil
}

// SetPlan records the customer's new plan and its compute size (a resize).
func (s *Store) SetPlan(ctx context.Context, customerID, plan string, vcpus float64, memoryMB int) error {
	_, err := s.db.Exec(ctx, `UPDATE railway.instances SET plan = $2, vcpus = $3, memory_mb = $4,
		updated_at = now() WHERE customer_id = $1`, customerID, plan, vcpus, memoryMB)
	if err != nil {
		return fmt.Errorf("set plan of %s: %w", customerID, err)
	}
	return nil
}

// MarkDeleted makes the customer's instance a tombstone. A customer without
// a row is not an error.
func (s *Store) MarkDeleted(ctx context.Context, customerID string) error {
	_, err := s.db.Exec(ctx, `UPDATE railway.instances SET desired_state = 'deleted', updated_at = now()
		WHERE customer_id = $1`, customerID)
	if err != nil {
		return fmt.Errorf("mark %s deleted: %w", customerID, err)
	}
	return nil
}

func portErr(err error, what string) error {
	var pg *pgconn.PgError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &pg) && pg.Code == "23505" && pg.ConstraintName == "instances_running_port":
		return fmt.Errorf("%s: %w", what, ErrPortTaken)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// MarkSagaDeleted records that sagaID's compute was deleted. Idempotent.
func (s *Store) MarkSagaDeleted(ctx context.Context, sagaID string) error {
	if _, err := s.db.Exec(ctx, `INSERT INTO railway.deleted_sagas (saga_id) VALUES ($1) ON CONFLICT DO NOTHING`, sagaID); err != nil {
		return fmt.Errorf("mark saga %s deleted: %w", sagaID, err)
	}
	return nil
}

// SagaDeleted reports whether sagaID's compute was deleted.
func (s *Store) SagaDeleted(ctx context.Context, sagaID string) (bool, error) {
	var ok bool
	if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM railway.deleted_sagas WHERE saga_id = $1)`, sagaID).Scan(&ok); err != nil {
		return false, fmt.Errorf("saga %s deleted: %w", sagaID, err)
	}
	return ok, nil
}
