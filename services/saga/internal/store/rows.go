package store

import (
	"context"
	"errors"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/services/saga/internal/domain"
)

func subFS() (fs.FS, error) { return fs.Sub(migrations, "migrations") }

// load reads saga id and its steps in tx, locking the saga's row when lock
// is set.
func load(ctx context.Context, tx pgx.Tx, id string, lock bool) (*domain.Saga, error) {
	var b pgx.Batch
	l := queueLoad(&b, id, lock)
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	return l.saga, nil
}

// loaded is what queueLoad's queries read: the saga and the trace context
// it started in.
type loaded struct {
	saga  *domain.Saga
	trace string
}

// queueLoad queues the two queries that read saga id and its steps, the
// first locking the saga's row when lock is set; they fill the result when
// the batch is closed, which fails with ErrNotFound for an unknown id. Sent
// in one batch they cost one round trip, and the steps are read after the
// row lock is taken.
func queueLoad(b *pgx.Batch, id string, lock bool) *loaded {
	q := `SELECT id, kind, customer_id, coalesce(checkout_session_id, ''), plan, email, name, timezone, status, failed_step,
		reason, database_ref, instance_url, api_key_ref, created_at, updated_at, completed_at, previous_plan, cause, archive_ref,
		trace_context
		FROM saga.sagas WHERE id = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	l := &loaded{}
	b.Queue(q, id).QueryRow(func(row pgx.Row) error {
		var s domain.Saga
		var completed *time.Time
		err := row.Scan(&s.ID, &s.Kind, &s.CustomerID, &s.CheckoutSessionID, &s.Plan, &s.Email,
			&s.Name, &s.Timezone, &s.Status, &s.FailedStep, &s.Reason, &s.DatabaseRef, &s.InstanceURL, &s.APIKeyRef,
			&s.CreatedAt, &s.UpdatedAt, &completed, &s.PreviousPlan, &s.Cause, &s.ArchiveRef, &l.trace)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		s.CompletedAt = deref(completed)
		l.saga = &s
		return nil
	})
	b.Queue(`SELECT name, status, attempt, compensation_attempt, done_order, started_at,
		finished_at, deadline, error FROM saga.saga_steps WHERE saga_id = $1 ORDER BY position`, id).Query(func(rows pgx.Rows) error {
		steps, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.Step, error) {
			var st domain.Step
			var started, finished, deadline *time.Time
			err := row.Scan(&st.Name, &st.Status, &st.Attempt, &st.CompensationAttempt, &st.DoneOrder,
				&started, &finished, &deadline, &st.Error)
			st.StartedAt, st.FinishedAt, st.Deadline = deref(started), deref(finished), deref(deadline)
			return st, err
		})
		l.saga.Steps = steps
		return err
	})
	return l
}

// queueSteps queues the upserts of the steps of s that differ from before
// (the steps as loaded; nil for a new saga). An update settles one or two
// steps of six or more, and an upsert of an unchanged row still writes a
// new version of it (WAL, index entries, a dead tuple for vacuum).
func queueSteps(b *pgx.Batch, s *domain.Saga, before []domain.Step) {
	for i, st := range s.Steps {
		if i < len(before) && before[i] == st {
			continue
		}
		b.Queue(`INSERT INTO saga.saga_steps (saga_id, name, position, status, attempt, compensation_attempt,
			done_order, started_at, finished_at, deadline, error) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11)
			ON CONFLICT (saga_id, name) DO UPDATE SET status=$4, attempt=$5, compensation_attempt=$6,
			done_order=$7, started_at=$8, finished_at=$9, deadline=$10, error=$11`,
			s.ID, st.Name, i, st.Status, st.Attempt, st.CompensationAttempt, st.DoneOrder,
			nullTime(st.StartedAt), nullTime(st.FinishedAt), nullTime(st.Deadline), st.Error)
	}
}

// queueOutbox queues the inserts of out for the relay, each message in its
// own trace context or else tc. A message id already queued is kept as it
// is: the same logical message is never queued twice.
func queueOutbox(b *pgx.Batch, out []Message, now time.Time, tc string) {
	for _, m := range out {
		mtc := m.TraceContext
		if mtc == "" {
			mtc = tc
		}
		b.Queue(`INSERT INTO saga.outbox (saga_id, customer_id, subject, msg_id, payload, created_at, trace_context)
			VALUES ($1,$2,$3,$4,$5,$6,$7) ON CONFLICT (msg_id) DO NOTHING`,
			m.SagaID, m.CustomerID, m.Subject, m.MsgID, string(m.Payload), now, mtc)
	}
}

// insertOutbox queues out for the relay (see queueOutbox) in tx.
func insertOutbox(ctx context.Context, tx pgx.Tx, out []Message, now time.Time, tc string) error {
	var b pgx.Batch
	queueOutbox(&b, out, now, tc)
	return sendBatch(ctx, tx, &b)
}

// sendBatch sends b in tx, if it holds anything.
func sendBatch(ctx context.Context, tx pgx.Tx, b *pgx.Batch) error {
	if b.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, b).Close()
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}
