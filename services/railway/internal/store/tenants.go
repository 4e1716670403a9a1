package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrNoFreeUID is returned when every uid of the configured range is held
// by a customer.
var ErrNoFreeUID = errors.New("no free uid in the configured range")

// UID returns the uid held by the customer, allocating the lowest free one
// of [lo, hi] on first use. The allocation is persisted, so it outlives
// restarts of the service; it is released only by FreeUID. Concurrent
// allocations for different customers that pick the same uid are resolved
// by the uid's unique index: the loser picks again.
func (s *Store) UID(ctx context.Context, customerID string, lo, hi int) (int, error) {
	if lo <= 0 || hi < lo {
		return 0, fmt.Errorf("uid range %d-%d is empty", lo, hi)
	}
	for range 10 {
		var uid int
		err := s.db.QueryRow(ctx, `SELECT uid FROM railway.tenant_ids WHERE customer_id = $1`, customerID).Scan(&uid)
		if err == nil {
			return uid, nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return 0, fmt.Errorf("uid of %s: %w", customerID, err)
		}
		// The lowest uid of the range that no customer holds: the first
		// of the range, or one above a held uid.
		err = s.db.QueryRow(ctx, `INSERT INTO railway.tenant_ids (customer_id, uid)
			SELECT $1, c FROM (
				SELECT $2::int AS c
				UNION ALL
				SELECT uid + 1 FROM railway.tenant_ids WHERE uid BETWEEN $2 AND $3 - 1
			) candidates
			WHERE NOT EXISTS (SELECT 1 FROM railway.tenant_ids t WHERE t.uid = c)
			ORDER BY c LIMIT 1
			ON CONFLICT (customer_id) DO NOTHING
			RETURNING uid`, customerID, lo, hi).Scan(&uid)
		var pg *pgconn.PgError
		switch {
		case err == nil:
			return uid, nil
		case errors.Is(err, pgx.ErrNoRows):
			var held bool
			if err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM railway.tenant_ids WHERE customer_id = $1)`,
				customerID).Scan(&held); err != nil {
				return 0, fmt.Errorf("uid of %s: %w", customerID, err)
			}
			if !held {
				return 0, fmt.Errorf("uid of %s: %w (%d-%d)", customerID, ErrNoFreeUID, lo, hi)
			}
			// Another allocation for this customer won: read it.
		case errors.As(err, &pg) && pg.Code == "23505":
			// Another customer took that uid meanwhile: pick again.
		default:
			return 0, fmt.Errorf("allocate uid for %s: %w", customerID, err)
		}
	}
	return 0, fmt.Errorf("allocate uid for %s: too much contention", customerID)
}

// FreeUID releases the customer's uid, once its compute is deleted and
// nothing of it runs or remains on disk. Freeing an unknown customer's uid
// is not an error.
func (s *Store) FreeUID(ctx context.Context, customerID string) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM railway.tenant_ids WHERE customer_id = $1`, customerID); err != nil {
		return fmt.Errorf("free uid of %s: %w", customerID, err)
	}
	return nil
}
