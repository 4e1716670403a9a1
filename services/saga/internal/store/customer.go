package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/bus"

	"clawdbot.cloud/services/saga/internal/domain"
)

// Event is a stored customer.* event: its protojson payload and status.
type Event struct {
	ID         string
	CustomerID string
	Subject    string
	Created    time.Time
	Payload    []byte
	Status     string
	Reason     string
	ReceivedAt time.Time
	// TraceContext is the trace the event arrived in (bus.TraceContext);
	// AddEvent records the transaction's.
	TraceContext string
}

// CustomerTx is one transaction holding a customer's lock: everything a
// lifecycle transition reads and writes commits together.
type CustomerTx struct {
	ctx context.Context
	tx  pgx.Tx
	now time.Time
	// trace, when set, is the trace what the transaction writes continues
	// (ContinueTrace); otherwise ctx's.
	trace string
}

// ContinueTrace makes the sagas and messages written next continue trace
// tc (a pending event's, applied long after it arrived); "" returns to the
// trace of the transaction's context.
func (q *CustomerTx) ContinueTrace(tc string) { q.trace = tc }

func (q *CustomerTx) traceContext() string {
	if q.trace != "" {
		return q.trace
	}
	return bus.TraceContext(q.ctx)
}

// WithCustomer runs fn in a transaction holding customer id's lock (a
// transaction-scoped advisory lock, so it also serializes a customer that
// has no row yet). An error from fn rolls everything back.
func (st *Store) WithCustomer(ctx context.Context, id string, now time.Time, fn func(q *CustomerTx) error) error {
	err := pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('saga.customer/' || $1, 0))`, id); err != nil {
			return err
		}
		return fn(&CustomerTx{ctx: ctx, tx: tx, now: now})
	})
	if err != nil {
		return fmt.Errorf("customer %s: %w", id, err)
	}
	return nil
}

const customerCols = `customer_id, plan, state, subscription_id, email, name, timezone, database_ref, instance_url,
	archive_ref, active_saga, last_event_at, grace_until, archive_at, delete_at, created_at, updated_at`

func scanCustomer(row pgx.Row) (*domain.Customer, error) {
	var c domain.Customer
	var last, grace, archive, del *time.Time
	err := row.Scan(&c.ID, &c.Plan, &c.State, &c.SubscriptionID, &c.Email, &c.Name, &c.Timezone, &c.DatabaseRef,
		&c.InstanceURL, &c.ArchiveRef, &c.ActiveSaga, &last, &grace, &archive, &del, &c.CreatedAt, &c.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.LastEventAt, c.GraceUntil, c.ArchiveAt, c.DeleteAt = deref(last), deref(grace), deref(archive), deref(del)
	return &c, nil
}

// Customer returns the customer, nil when it has no record.
func (q *CustomerTx) Customer(id string) (*domain.Customer, error) {
	return scanCustomer(q.tx.QueryRow(q.ctx, `SELECT `+customerCols+` FROM saga.customers WHERE customer_id = $1`, id))
}

// SaveCustomer inserts or updates c, stamping UpdatedAt.
func (q *CustomerTx) SaveCustomer(c *domain.Customer) error {
	c.UpdatedAt = q.now
	if c.CreatedAt.IsZero() {
		c.CreatedAt = q.now
	}
	_, err := q.tx.Exec(q.ctx, `INSERT INTO saga.customers (`+customerCols+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17)
		ON CONFLICT (customer_id) DO UPDATE SET plan=$2, state=$3, subscription_id=$4, email=$5, name=$6, timezone=$7,
		database_ref=$8, instance_url=$9, archive_ref=$10, active_saga=$11, last_event_at=$12, grace_until=$13,
		archive_at=$14, delete_at=$15, updated_at=$17`,
		c.ID, c.Plan, c.State, c.SubscriptionID, c.Email, c.Name, c.Timezone, c.DatabaseRef, c.InstanceURL, c.ArchiveRef,
		c.ActiveSaga, nullTime(c.LastEventAt), nullTime(c.GraceUntil), nullTime(c.ArchiveAt), nullTime(c.DeleteAt),
		c.CreatedAt, c.UpdatedAt)
	return err
}

// AddEvent records e as pending unless its id is known; added reports
// whether it was new.
func (q *CustomerTx) AddEvent(e Event) (added bool, err error) {
	tc := e.TraceContext
	if tc == "" {
		tc = bus.TraceContext(q.ctx)
	}
	tag, err := q.tx.Exec(q.ctx, `INSERT INTO saga.customer_events (event_id, customer_id, subject, created, payload, status, received_at, trace_context)
		VALUES ($1,$2,$3,$4,$5,'pending',$6,$7) ON CONFLICT (event_id) DO NOTHING`,
		e.ID, e.CustomerID, e.Subject, nullTime(e.Created), string(e.Payload), q.now, tc)
	if err != nil {
		return false, err
	}
	return tag.RowsAffected() == 1, nil
}

// Pending returns the customer's pending events, oldest Stripe event first.
func (q *CustomerTx) Pending(customerID string) ([]Event, error) {
	rows, err := q.tx.Query(q.ctx, `SELECT event_id, customer_id, subject, created, payload::text, status, reason, received_at, trace_context
		FROM saga.customer_events WHERE customer_id = $1 AND status = 'pending'
		ORDER BY created NULLS FIRST, received_at, event_id`, customerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanEvent)
}

func scanEvent(r pgx.CollectableRow) (Event, error) {
	var e Event
	var created *time.Time
	var payload string
	err := r.Scan(&e.ID, &e.CustomerID, &e.Subject, &created, &payload, &e.Status, &e.Reason, &e.ReceivedAt, &e.TraceContext)
	e.Created, e.Payload = deref(created), []byte(payload)
	return e, err
}

// Decide records the fate of event id: status with reason.
func (q *CustomerTx) Decide(id, status, reason string) error {
	_, err := q.tx.Exec(q.ctx, `UPDATE saga.customer_events SET status=$2, reason=$3, decided_at=$4 WHERE event_id=$1`,
		id, status, reason, q.now)
	return err
}

// SagaExists reports whether saga id exists.
func (q *CustomerTx) SagaExists(id string) (bool, error) {
	var ok bool
	err := q.tx.QueryRow(q.ctx, `SELECT EXISTS (SELECT 1 FROM saga.sagas WHERE id = $1)`, id).Scan(&ok)
	return ok, err
}

// Saga returns saga id (without its row lock), ErrNotFound when missing.
func (q *CustomerTx) Saga(id string) (*domain.Saga, error) { return load(q.ctx, q.tx, id, false) }

// CreateSaga inserts s, its steps and out (see Store.Create).
func (q *CustomerTx) CreateSaga(s *domain.Saga, out []Message) (bool, error) {
	return createSaga(q.ctx, q.tx, s, out, q.now, q.traceContext())
}

// Outbox queues out.
func (q *CustomerTx) Outbox(out []Message) error {
	return insertOutbox(q.ctx, q.tx, out, q.now, q.traceContext())
}

// CountRetries counts sagas whose id ends with "-"+id and starts "retry".
func (q *CustomerTx) CountRetries(id string) (int, error) {
	var n int
	err := q.tx.QueryRow(q.ctx, `SELECT count(*) FROM saga.sagas WHERE id LIKE 'retry%-' || $1`, id).Scan(&n)
	return n, err
}

// CustomersToReconcile returns customers with work to do at now: a timer
// due, a finished active saga to settle, or pending events while idle.
func (st *Store) CustomersToReconcile(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := st.db.Query(ctx, `
		SELECT customer_id FROM saga.customers WHERE active_saga = '' AND
			(grace_until <= $1 OR archive_at <= $1 OR delete_at <= $1)
		UNION
		SELECT c.customer_id FROM saga.customers c JOIN saga.sagas s ON s.id = c.active_saga
			WHERE c.active_saga <> '' AND s.status IN ('completed', 'compensated', 'failed')
		UNION
		SELECT DISTINCT e.customer_id FROM saga.customer_events e JOIN saga.customers c ON c.customer_id = e.customer_id
			WHERE e.status = 'pending' AND c.active_saga = ''
		LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("customers to reconcile: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("customers to reconcile: %w", err)
	}
	return ids, nil
}

// DropPending marks events pending since before as dropped with a reason
// (the customer never appeared, or stayed busy), returning how many.
func (st *Store) DropPending(ctx context.Context, before, now time.Time) (int64, error) {
	tag, err := st.db.Exec(ctx, `UPDATE saga.customer_events e SET status = 'dropped', decided_at = $2,
		reason = CASE WHEN EXISTS (SELECT 1 FROM saga.customers c WHERE c.customer_id = e.customer_id)
			THEN 'retention window passed while the customer was busy'
			ELSE 'retention window passed; customer never known' END
		WHERE status = 'pending' AND received_at < $1`, before, now)
	if err != nil {
		return 0, fmt.Errorf("drop pending events: %w", err)
	}
	return tag.RowsAffected(), nil
}
