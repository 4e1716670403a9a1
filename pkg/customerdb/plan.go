package customerdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SetPlan records the plan the instance runs (see StoredPlan). A database
// not yet migrated to the table (its runtime is older) is left as it is:
// that runtime still takes its plan from its configuration.
func SetPlan(ctx context.Context, db DB, plan string) error {
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass('instance_plan') IS NOT NULL`).Scan(&exists); err != nil {
		return fmt.Errorf("set plan: %w", err)
	}
	if !exists {
		return nil
	}
	const q = `
INSERT INTO instance_plan (id, plan) VALUES (true, $1)
ON CONFLICT (id) DO UPDATE SET plan = excluded.plan, updated_at = now()`
	if _, err := db.Exec(ctx, q, plan); err != nil {
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
