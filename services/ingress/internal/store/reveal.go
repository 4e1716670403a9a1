package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/names"
)

// Unrevealed is a ready signup whose key nobody revealed in time.
type Unrevealed struct {
	CheckoutSessionID string
	// APIKeyRef is the secret to delete ("" when the saga reported none).
	APIKeyRef string
}

// Unrevealed returns at most limit ready signups, oldest first, that became
// ready before readyBefore and whose key is neither revealed nor expired.
func (s *Store) Unrevealed(ctx context.Context, readyBefore time.Time, limit int) ([]Unrevealed, error) {
	rows, err := s.db.Query(ctx, `
		SELECT checkout_session_id, api_key_ref FROM ingress.provisioning
		WHERE status = 'ready' AND NOT api_key_revealed AND NOT api_key_expired AND ready_at < $1
		ORDER BY ready_at LIMIT $2`, readyBefore, limit)
	if err != nil {
		return nil, fmt.Errorf("unrevealed keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Unrevealed])
	if err != nil {
		return nil, fmt.Errorf("unrevealed keys: %w", err)
	}
	return out, nil
}

// MarkExpired records that the session's unrevealed key was deleted. It
// reports false when the key was revealed (or expired) meanwhile.
func (s *Store) MarkExpired(ctx context.Context, checkoutSessionID string) (bool, error) {
	tag, err := s.db.Exec(ctx, `UPDATE ingress.provisioning SET api_key_expired = true, updated_at = now()
		WHERE checkout_session_id = $1 AND NOT api_key_revealed AND NOT api_key_expired`, checkoutSessionID)
	if err != nil {
		return false, fmt.Errorf("mark key of checkout %s expired: %w", names.CheckoutRef(checkoutSessionID), err)
	}
	return tag.RowsAffected() == 1, nil
}
