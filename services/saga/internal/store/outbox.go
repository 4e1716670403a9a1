package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Relay publishes up to limit unsent outbox messages, oldest first, and
// marks those published as sent at now. Rows being relayed are locked and
// skipped by other replicas (FOR UPDATE SKIP LOCKED). It stops at the first
// publish error, keeping the rest for the next call, and returns how many
// it sent. A crash after publishing but before marking republishes with the
// same message id, which the stream drops as a duplicate.
func (st *Store) Relay(ctx context.Context, limit int, now time.Time, publish func(context.Context, Message) error) (int, error) {
	sent := 0
	var perr error
	err := pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, saga_id, customer_id, subject, msg_id, payload::text, trace_context FROM saga.outbox
			WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		type row struct {
			id int64
			m  Message
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			var payload string
			err := r.Scan(&x.id, &x.m.SagaID, &x.m.CustomerID, &x.m.Subject, &x.m.MsgID, &payload, &x.m.TraceContext)
			x.m.Payload = []byte(payload)
			return x, err
		})
		if err != nil {
			return err
		}
		var ids []int64
		for _, x := range batch {
			if perr = publish(ctx, x.m); perr != nil {
				break
			}
			ids = append(ids, x.id)
		}
		if len(ids) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE saga.outbox SET sent_at = $1 WHERE id = ANY($2)`, now, ids); err != nil {
				return err
			}
		}
		sent = len(ids)
		return nil // commit what was sent, even when a later publish failed
	})
	if err != nil {
		return 0, fmt.Errorf("relay outbox: %w", err)
	}
	if perr != nil {
		return sent, fmt.Errorf("relay outbox: %w", perr)
	}
	return sent, nil
}

// PruneOutbox deletes messages sent before before, returning how many.
func (st *Store) PruneOutbox(ctx context.Context, before time.Time) (int64, error) {
	tag, err := st.db.Exec(ctx, `DELETE FROM saga.outbox WHERE sent_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("prune outbox: %w", err)
	}
	return tag.RowsAffected(), nil
}

// Pending counts messages not yet sent.
func (st *Store) Pending(ctx context.Context) (int, error) {
	var n int
	if err := st.db.QueryRow(ctx, `SELECT count(*) FROM saga.outbox WHERE sent_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}
