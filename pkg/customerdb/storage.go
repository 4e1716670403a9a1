package customerdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"clawdbot.cloud/pkg/plans"
)

// StorageFullCode is the SQLSTATE the storage trigger (0006_storage.sql)
// raises when a write would take the customer past their plan's cap.
const StorageFullCode = "CL507"

// IsStorageFull reports whether err is the storage trigger's refusal. The
// write changed nothing; the customer must delete something or move to a
// larger plan.
func IsStorageFull(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == StorageFullCode
}

// Storage is what the customer's memories and conversations hold against
// their plan's cap.
type Storage struct {
	// UsedBytes is the accounted size of memories, conversations,
	// messages, tool calls and screenshots.
	UsedBytes int64
	// LimitBytes is the cap; 0 when none is recorded yet.
	LimitBytes int64
}

// ReadStorage returns the customer's storage use and cap.
func ReadStorage(ctx context.Context, db DB) (Storage, error) {
	var s Storage
	err := db.QueryRow(ctx, `SELECT (SELECT bytes FROM storage_usage),
		coalesce((SELECT storage_bytes FROM instance_plan), 0)`).Scan(&s.UsedBytes, &s.LimitBytes)
	if err != nil {
		return Storage{}, fmt.Errorf("read storage: %w", err)
	}
	return s, nil
}

// EnsurePlan makes sure the database records a plan and its storage cap,
// so the cap holds from the runtime's first write. The runtime calls it at
// start with its configured plan: without a recorded plan it records that
// one, marked as coming from the configuration, and refreshes such a record
// at each start (a resize restarts the runtime with the new plan). A plan
// the workspace service recorded (SetPlan) is never replaced; one recorded
// before storage caps existed gets its cap.
func EnsurePlan(ctx context.Context, db TxBeginner, plan plans.Plan) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var stored string
		var cap *int64
		var fromConfig bool
		err := tx.QueryRow(ctx, `SELECT plan, storage_bytes, from_config FROM instance_plan FOR UPDATE`).Scan(&stored, &cap, &fromConfig)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			_, err = tx.Exec(ctx, `INSERT INTO instance_plan (id, plan, storage_bytes, from_config) VALUES (true, $1, $2, true)
				ON CONFLICT (id) DO NOTHING`, plan.ID, plan.StorageBytes)
		case err != nil:
		case fromConfig:
			if stored != plan.ID || cap == nil || *cap != plan.StorageBytes {
				_, err = tx.Exec(ctx, `UPDATE instance_plan SET plan = $1, storage_bytes = $2, updated_at = now()`, plan.ID, plan.StorageBytes)
			}
		case cap == nil:
			p, lerr := plans.Lookup(stored)
			if lerr != nil {
				p = plan // an id this build does not know: the configured plan's cap
			}
			_, err = tx.Exec(ctx, `UPDATE instance_plan SET storage_bytes = $1`, p.StorageBytes)
		}
		if err != nil {
			return fmt.Errorf("ensure plan: %w", err)
		}
		return nil
	})
}
