package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// SetOpenClawVersion records the OpenClaw version the customer's runtime
// runs ("" when it left the openclaw engine).
func (s *Store) SetOpenClawVersion(ctx context.Context, customerID, version string) error {
	_, err := s.db.Exec(ctx, `UPDATE railway.instances SET openclaw_version = $2, updated_at = now()
		WHERE customer_id = $1`, customerID, version)
	if err != nil {
		return fmt.Errorf("set openclaw version of %s: %w", customerID, err)
	}
	return nil
}

// PinnedOpenClaw returns the pinned OpenClaw version, "" when none was
// recorded yet.
func (s *Store) PinnedOpenClaw(ctx context.Context) (string, error) {
	var v string
	err := s.db.QueryRow(ctx, `SELECT version FROM railway.openclaw_pin`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pinned openclaw version: %w", err)
	}
	return v, nil
}

// PinOpenClaw records version as the pinned OpenClaw version: the one new
// instances get.
func (s *Store) PinOpenClaw(ctx context.Context, version string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO railway.openclaw_pin (version) VALUES ($1)
		ON CONFLICT (one) DO UPDATE SET version = excluded.version, updated_at = now()`, version)
	if err != nil {
		return fmt.Errorf("pin openclaw version %s: %w", version, err)
	}
	return nil
}
