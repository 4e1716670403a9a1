package neon

import (
	"context"
	"fmt"

	"clawdbot.cloud/pkg/customerdb"
)

// PrepareParent migrates the parent branch's database to the customer
// schema of this build (pkg/customerdb). conn must be logged in as the
// customer role (NEON_ROLE_NAME) to the parent's database
// (NEON_DATABASE_NAME), so that every object belongs to the role each
// branch inherits; use the parent's direct (not pooled) URI. It is
// idempotent, and branches made before a new migration get it from their
// runtime, which migrates its database on start.
func PrepareParent(ctx context.Context, conn customerdb.TxBeginner) error {
	if err := customerdb.Migrate(ctx, conn); err != nil {
		return fmt.Errorf("prepare parent branch: %w", err)
	}
	return nil
}
