package customerdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/plans"
)

// SetPlan records the plan the instance runs (see StoredPlan) and the
// plan's storage cap, which the storage trigger enforces from the next
// write. A database not yet migrated to the table (its runtime is older)
// is left as it is: that runtime still takes its plan from its
// configuration.
func SetPlan(ctx context.Context, db DB, plan string) error {
	var exists, hasCap bool
	err := db.QueryRow(ctx, `SELECT to_regclass('instance_plan') IS NOT NULL,
		EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('instance_plan')
			AND attname = 'storage_bytes' AND NOT attisdropped)`).Scan(&exists, &hasCap)
	if err != nil {
		return fmt.Errorf("set plan: %w", err)
	}
	if !exists {
		return nil
	}
	if !hasCap {
		const q = `
INSERT INTO instance_plan (id, plan) VALUES (true, $1)
ON CONFLICT (id) DO UPDATE SET plan = excluded.plan, updated_at = now()`
		if _, err := db.Exec(ctx, q, plan); err != nil {
			return fmt.Errorf("set plan: %w", err)
		}
		return nil
	}
	// An id the catalog does not know records no cap (the runtime ignores
	// such a plan too).
	var storage *int64
	if p, err := plans.Lookup(plan); err == nil {
		storage = &p.StorageBytes
	}
	const q = `
INSERT INTO instance_plan (id, plan, storage_bytes) VALUES (true, $1, $2)
ON CONFLICT (id) DO UPDATE SET plan = excluded.plan, storage_bytes = excluded.storage_bytes, from_config = false, updated_at = now()`
	if _, err := db.Exec(ctx, q, plan, storage); err != nil {
		return fmt.Errorf("set plan: %w", err)
	}
	return nil
}

// StoredPlan returns the plan SetPlan recorded, or "" when none was.
func StoredPlan(ctx context.Context, db DB) (string, error) {
	var plan string
	err := db.QueryRow(ctx, `SELECT plan FROM instance_plan`).Scan(&plan)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("stored plan: %w", err)
	}
	return plan, nil
}
