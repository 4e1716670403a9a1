// Package store keeps the health service's tables in the control-plane
// database (schema "health"): the live instances it probes and their health,
// and what it has already sent (customer notices, quota notices, alerts), so
// redelivered events and restarts never send anything twice.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/migrate"
)

// Schema is the service's own schema.
const Schema = "health"

//go:embed migrations/*.sql
var migrations embed.FS

// Store reads and writes the service's tables.
type Store struct {
	db *pgxpool.Pool
}

// Open migrates the schema and returns a Store.
func Open(ctx context.Context, db *pgxpool.Pool) (*Store, error) {
	sub, err := fsSub()
	if err != nil {
		return nil, err
	}
	if err := migrate.Apply(ctx, db, Schema, sub); err != nil {
		return nil, fmt.Errorf("health store: %w", err)
	}
	return &Store{db: db}, nil
}

// Once runs fn at most once per key across replicas and redeliveries: under
// a transaction-scoped advisory lock on key, it calls done (whether the work
// is already recorded) and, if not, fn, which records the work in the same
// transaction. The lock makes a concurrent duplicate wait for the first to
// finish and then see it done. Whatever fn recorded is committed even when
// it returns an error, so partial progress (one channel of two) is kept.
func (s *Store) Once(ctx context.Context, key string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockID(key)); err != nil {
		return fmt.Errorf("lock %s: %w", key, err)
	}
	ferr := fn(ctx, tx)
	if err := tx.Commit(ctx); err != nil {
		return errors.Join(ferr, fmt.Errorf("commit: %w", err))
	}
	return ferr
}

// TryCycleLock takes the session lock that lets one replica run a probe
// cycle at a time. ok is false when another replica holds it; release must
// be called when ok.
func (s *Store) TryCycleLock(ctx context.Context) (release func(), ok bool, err error) {
	conn, err := s.db.Acquire(ctx)
	if err != nil {
		return nil, false, err
	}
	id := lockID("health:probe-cycle")
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, id).Scan(&ok); err != nil || !ok {
		conn.Release()
		return nil, false, err
	}
	return func() {
		_, _ = conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, id)
		conn.Release()
	}, true, nil
}

func lockID(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return int64(h.Sum64())
}

// NoticeSent reports whether notice id was already handled.
func NoticeSent(ctx context.Context, tx pgx.Tx, id string) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM health.notices_sent WHERE notice_id = $1)`, id).Scan(&ok)
	return ok, err
}

// RecordNotice records notice id as handled with result (sent, skipped).
func RecordNotice(ctx context.Context, tx pgx.Tx, id, kind, customer, result string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO health.notices_sent (notice_id, kind, customer_id, result, sent_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, id, kind, customer, result, at)
	return err
}

// AlertDecision returns the decision recorded for an alert key, "" if none.
func AlertDecision(ctx context.Context, tx pgx.Tx, key string) (string, error) {
	var d string
	err := tx.QueryRow(ctx, `SELECT decision FROM health.alerts WHERE alert_key = $1`, key).Scan(&d)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return d, err
}

// RecordAlertDecision records the decision for an alert key.
func RecordAlertDecision(ctx context.Context, tx pgx.Tx, key, kind, decision string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO health.alerts (alert_key, kind, decision, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, key, kind, decision, at)
	return err
}

// Delivered reports whether the alert key went out on channel.
func Delivered(ctx context.Context, tx pgx.Tx, key, channel string) (bool, error) {
	var ok bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM health.alert_deliveries WHERE alert_key = $1 AND channel = $2)`,
		key, channel).Scan(&ok)
	return ok, err
}

// RecordDelivery records that the alert key went out on channel.
func RecordDelivery(ctx context.Context, tx pgx.Tx, key, channel string, at time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO health.alert_deliveries (alert_key, channel, sent_at) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, key, channel, at)
	return err
}

// QuotaNoticePublished reports whether a quota notice id was published.
func (s *Store) QuotaNoticePublished(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM health.quota_notices WHERE notice_id = $1)`, id).Scan(&ok)
	return ok, err
}

// RecordQuotaNotice records a quota notice id as published.
func (s *Store) RecordQuotaNotice(ctx context.Context, id string, at time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO health.quota_notices (notice_id, published_at) VALUES ($1, $2)
		ON CONFLICT DO NOTHING`, id, at)
	return err
}
