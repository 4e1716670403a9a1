package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Relay hands up to limit unsent outbox messages, oldest first, to publish
// and marks the ones it reports sent at now. publish returns how many of
// the messages, counted from the first, were published, and the error that
// stopped it, if any; the rest stay for the next call. Rows being relayed
// are locked and skipped by other replicas (FOR UPDATE SKIP LOCKED). Relay
// returns how many it marked. A crash after publishing but before marking
// republishes with the same message ids, which the stream drops as
// duplicates.
func (st *Store) Relay(ctx context.Context, limit int, now time.Time, publish func(context.Context, []Message) (int, error)) (int, error) {
	sent := 0
	var perr error
	err := pgx.BeginFunc(ctx, st.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, saga_id, customer_id, subject, msg_id, payload::text, trace_context, created_at FROM saga.outbox
			WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return err
		}
		var ids []int64
		msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) {
			var m Message
			var id int64
			var payload string
			err := r.Scan(&id, &m.SagaID, &m.CustomerID, &m.Subject, &m.MsgID, &payload, &m.TraceContext, &m.CreatedAt)
			m.Payload = []byte(payload)
			ids = append(ids, id)
			return m, err
		})
		if err != nil || len(msgs) == 0 {
			return err
		}
		sent, perr = publish(ctx, msgs)
		sent = min(max(sent, 0), len(ids))
		if sent > 0 {
			if _, err := tx.Exec(ctx, `UPDATE saga.outbox SET sent_at = $1 WHERE id = ANY($2)`, now, ids[:sent]); err != nil {
				return err
			}
		}
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
