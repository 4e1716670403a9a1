// Package store keeps sagas, their steps and the outbox in Postgres, schema
// "saga". Every change to a saga happens in one transaction holding the
// saga's row lock (SELECT ... FOR UPDATE), together with the outbox messages
// it causes, so concurrent or duplicate deliveries apply at most once and a
// crash never loses a command.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/migrate"
	"clawdbot.cloud/services/saga/internal/domain"
)

// Schema is the Postgres schema owned by the saga service.
const Schema = "saga"

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned for a saga id with no saga.
var ErrNotFound = errors.New("saga not found")

// Message is an outbox message: a protojson payload to publish on Subject
// with the deterministic MsgID.
type Message struct {
	SagaID     string
	CustomerID string
	Subject    string
	MsgID      string
	Payload    []byte
	// TraceContext is the trace the message continues (bus.TraceContext):
	// when empty, the store fills in the trace of the transaction's cause
	// (the handler's span, or the saga's own trace).
	TraceContext string
	// CreatedAt is the time of the transition that queued it (read back
	// by Relay; the transition's own time is stored when queueing).
	CreatedAt time.Time
}

// Store reads and writes sagas.
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

// Create inserts s, its steps and out, unless a saga with the same id or
// checkout session exists; created reports which.
func (st *Store) Create(ctx context.Context, s *domain.Saga, out []Message, now time.Time) (created bool, err error) {
	err = pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		created, err = createSaga(ctx, tx, s, out, now, bus.TraceContext(ctx))
		return err
	})
	if err != nil {
		return false, fmt.Errorf("create saga %s: %w", s.ID, err)
	}
	return created, nil
}

// createSaga inserts s in trace tc (the trace every later step of the saga
// continues), with out.
func createSaga(ctx context.Context, tx pgx.Tx, s *domain.Saga, out []Message, now time.Time, tc string) (bool, error) {
	tag, err := tx.Exec(ctx, `INSERT INTO saga.sagas (id, kind, customer_id, checkout_session_id, plan, email, name, timezone,
		status, failed_step, reason, database_ref, instance_url, api_key_ref, created_at, updated_at, completed_at,
		previous_plan, cause, archive_ref, trace_context)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21) ON CONFLICT DO NOTHING`,
		s.ID, s.Kind, s.CustomerID, nullString(s.CheckoutSessionID), s.Plan, s.Email, s.Name, s.Timezone,
		s.Status, s.FailedStep, s.Reason, s.DatabaseRef, s.InstanceURL, s.APIKeyRef, s.CreatedAt, s.UpdatedAt, nullTime(s.CompletedAt),
		s.PreviousPlan, s.Cause, s.ArchiveRef, tc)
	if err != nil {
		return false, err
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	var b pgx.Batch
	queueSteps(&b, s, nil)
	queueOutbox(&b, out, now, tc)
	return true, sendBatch(ctx, tx, &b)
}

// Update locks saga id, loads it and calls fn with it. When fn returns
// save, the saga (as fn left it) and out are written in the same
// transaction. It returns ErrNotFound for an unknown id. The messages
// continue the trace of ctx's span, or, without one (a deadline, an
// operator's retry), the trace the saga started in.
//
// It costs three round trips: the transaction's begin with the saga's
// locked read, its writes, its commit (each statement was one: eight).
func (st *Store) Update(ctx context.Context, id string, now time.Time, fn func(*domain.Saga) (out []Message, save bool, err error)) error {
	var b pgx.Batch
	b.BeginTx(pgx.TxOptions{})
	l := queueLoad(&b, id, true)
	err := inTx(ctx, st.db, &b, func(tx pgx.Tx) error {
		s := l.saga
		before := slices.Clone(s.Steps)
		out, save, err := fn(s)
		if err != nil || !save {
			return err
		}
		var w pgx.Batch
		w.Queue(`UPDATE saga.sagas SET status=$2, failed_step=$3, reason=$4, database_ref=$5,
			instance_url=$6, api_key_ref=$7, updated_at=$8, completed_at=$9, archive_ref=$10 WHERE id=$1`,
			s.ID, s.Status, s.FailedStep, s.Reason, s.DatabaseRef, s.InstanceURL, s.APIKeyRef, s.UpdatedAt,
			nullTime(s.CompletedAt), s.ArchiveRef)
		queueSteps(&w, s, before)
		tc := bus.TraceContext(ctx)
		if tc == "" {
			tc = l.trace
		}
		queueOutbox(&w, out, now, tc)
		return sendBatch(ctx, tx, &w)
	})
	if err != nil {
		return fmt.Errorf("update saga %s: %w", id, err)
	}
	return nil
}

// inTx begins a transaction with b, which must begin with Batch.BeginTx,
// calls fn in it once b's results are read, and commits when fn returns
// nil. The begin rides in the same round trip as b's queries.
func inTx(ctx context.Context, db *pgxpool.Pool, b *pgx.Batch, fn func(pgx.Tx) error) error {
	conn, err := db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	br := conn.SendBatch(ctx, b)
	tx := br.Tx()
	// A no-op once committed; after an error it ends the transaction
	// before the connection goes back to the pool.
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // see above
	if err := br.Close(); err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// Get returns saga id without locking it.
func (st *Store) Get(ctx context.Context, id string) (*domain.Saga, error) {
	// One round trip, no transaction: under read committed the two
	// statements each read a snapshot of their own in one anyway.
	var b pgx.Batch
	l := queueLoad(&b, id, false)
	if err := st.db.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("get saga %s: %w", id, err)
	}
	return l.saga, nil
}

// Due returns the ids of sagas with a step deadline at or before now, at
// most limit of them, earliest first.
func (st *Store) Due(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := st.db.Query(ctx, `SELECT saga_id FROM saga.saga_steps WHERE deadline <= $1
		GROUP BY saga_id ORDER BY min(deadline) LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("due sagas: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("due sagas: %w", err)
	}
	return ids, nil
}

// CountActive counts sagas that are running or compensating.
func (st *Store) CountActive(ctx context.Context) (int, error) {
	var n int
	err := st.db.QueryRow(ctx, `SELECT count(*) FROM saga.sagas WHERE status IN ('running', 'compensating')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count active sagas: %w", err)
	}
	return n, nil
}

func nullString(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func nullTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t
}
