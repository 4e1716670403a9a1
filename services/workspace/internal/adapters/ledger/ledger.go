// Package ledger is the workspace service's record, in its own schema of the
// control-plane database, of which saga's workspace it built or deleted. The
// record, not the bus's dedup window, is what makes a replayed
// cmd.workspace.build harmless: a build already done is reported again
// without touching the customer's database or minting another API key.
package ledger

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/migrate"
)

// Schema is the control-plane schema the service keeps its tables in.
const Schema = "workspace"

//go:embed migrations/*.sql
var migrations embed.FS

// Record is what the service knows about one saga's workspace.
type Record struct {
	SagaID     string
	CustomerID string
	// Files and APIKeyPrefix are what workspace.built reported.
	Files        int
	APIKeyPrefix string
	// BuiltAt is zero until the build completed.
	BuiltAt time.Time
	// DeletedAt is zero unless the workspace was deleted.
	DeletedAt time.Time
}

// Built reports whether the build completed.
func (r Record) Built() bool { return !r.BuiltAt.IsZero() }

// Deleted reports whether the workspace was deleted.
func (r Record) Deleted() bool { return !r.DeletedAt.IsZero() }

// Ledger reads and writes the records.
type Ledger struct {
	db *pgxpool.Pool
}

// Open migrates the service's schema and returns a Ledger on db.
func Open(ctx context.Context, db *pgxpool.Pool) (*Ledger, error) {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.Apply(ctx, db, Schema, fsys); err != nil {
		return nil, err
	}
	return &Ledger{db: db}, nil
}

// Get returns the record of sagaID; found is false when there is none.
func (l *Ledger) Get(ctx context.Context, sagaID string) (rec Record, found bool, err error) {
	var built, deleted *time.Time
	err = l.db.QueryRow(ctx, `SELECT saga_id, customer_id, files, api_key_prefix, built_at, deleted_at
		FROM workspace.builds WHERE saga_id = $1`, sagaID).
		Scan(&rec.SagaID, &rec.CustomerID, &rec.Files, &rec.APIKeyPrefix, &built, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, false, nil
	}
	if err != nil {
		return Record{}, false, fmt.Errorf("read build record of %s: %w", sagaID, err)
	}
	if built != nil {
		rec.BuiltAt = *built
	}
	if deleted != nil {
		rec.DeletedAt = *deleted
	}
	return rec, true, nil
}

// MarkBuilt records a completed build unless the saga's workspace was
// deleted meanwhile; ok is false in that case and nothing changes. A second
// call for a built saga keeps the first record.
func (l *Ledger) MarkBuilt(ctx context.Context, rec Record) (ok bool, err error) {
	var deleted *time.Time
	err = l.db.QueryRow(ctx, `INSERT INTO workspace.builds (saga_id, customer_id, files, api_key_prefix, built_at)
		VALUES ($1, $2, $3, $4, now())
		ON CONFLICT (saga_id) DO UPDATE SET
			files          = CASE WHEN builds.built_at IS NULL THEN excluded.files ELSE builds.files END,
			api_key_prefix = CASE WHEN builds.built_at IS NULL THEN excluded.api_key_prefix ELSE builds.api_key_prefix END,
			built_at       = coalesce(builds.built_at, excluded.built_at)
		RETURNING deleted_at`, rec.SagaID, rec.CustomerID, rec.Files, rec.APIKeyPrefix).Scan(&deleted)
	if err != nil {
		return false, fmt.Errorf("record build of %s: %w", rec.SagaID, err)
	}
	return deleted == nil, nil
}

// MarkDeleted records that the saga's workspace is deleted, creating a
// tombstone if it was never built, so that a build arriving late is refused.
// It must be called before the deletion itself: a build that completes
// concurrently then either sees the mark (and cleans up after itself) or
// finished before it (and the deletion removes its work).
func (l *Ledger) MarkDeleted(ctx context.Context, sagaID, customerID string) error {
	_, err := l.db.Exec(ctx, `INSERT INTO workspace.builds (saga_id, customer_id, deleted_at)
		VALUES ($1, $2, now())
		ON CONFLICT (saga_id) DO UPDATE SET deleted_at = coalesce(builds.deleted_at, excluded.deleted_at)`,
		sagaID, customerID)
	if err != nil {
		return fmt.Errorf("record deletion of %s: %w", sagaID, err)
	}
	return nil
}
