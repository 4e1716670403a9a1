package store

import (
	"context"
	"fmt"
	"time"
)

// ControlGrant is what a Control UI handoff or control session opens: the
// customer's instance, as it was when the handoff was minted.
type ControlGrant struct {
	// SessionHash is the web session the grant came from; it ends with it.
	SessionHash []byte
	CustomerID  string
	// InstanceURL is the instance the handoff was minted for: a grant
	// opens only that instance, not one provisioned since.
	InstanceURL string
}

// CreateControlHandoff stores a one-time Control UI handoff by the SHA-256
// of its token.
func (s *Store) CreateControlHandoff(ctx context.Context, tokenHash []byte, g ControlGrant, expires time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO web.control_handoffs (token_hash, session_hash, customer_id, instance_url, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, tokenHash, g.SessionHash, g.CustomerID, g.InstanceURL, expires)
	if err != nil {
		return fmt.Errorf("create control handoff: %w", err)
	}
	return nil
}

// UseControlHandoff marks a handoff used and returns its grant. It succeeds
// once per token, before its expiry, while its web session lives;
// ErrNotFound otherwise (of concurrent uses exactly one wins).
func (s *Store) UseControlHandoff(ctx context.Context, tokenHash []byte) (ControlGrant, error) {
	var g ControlGrant
	err := s.db.QueryRow(ctx, `
UPDATE web.control_handoffs h SET used_at = now()
FROM web.sessions s
WHERE h.token_hash = $1 AND h.used_at IS NULL AND h.expires_at > now()
  AND s.id_hash = h.session_hash AND s.expires_at > now()
RETURNING h.session_hash, h.customer_id, h.instance_url`, tokenHash).Scan(&g.SessionHash, &g.CustomerID, &g.InstanceURL)
	if err != nil {
		return ControlGrant{}, notFound(err, "control handoff")
	}
	return g, nil
}

// CreateControlSession stores a control origin's session by the SHA-256 of
// its cookie value. It never outlives its web session.
func (s *Store) CreateControlSession(ctx context.Context, idHash []byte, g ControlGrant, expires time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO web.control_sessions (id_hash, session_hash, customer_id, instance_url, expires_at)
		SELECT $1, $2, $3, $4, least($5::timestamptz, s.expires_at) FROM web.sessions s WHERE s.id_hash = $2`,
		idHash, g.SessionHash, g.CustomerID, g.InstanceURL, expires)
	if err != nil {
		return fmt.Errorf("create control session: %w", err)
	}
	return nil
}

// ControlSession returns the live control session with this cookie hash;
// ErrNotFound when there is none (never was, expired, or its web session
// ended).
func (s *Store) ControlSession(ctx context.Context, idHash []byte) (ControlGrant, error) {
	var g ControlGrant
	err := s.db.QueryRow(ctx, `
SELECT c.session_hash, c.customer_id, c.instance_url FROM web.control_sessions c
JOIN web.sessions s ON s.id_hash = c.session_hash
WHERE c.id_hash = $1 AND c.expires_at > now() AND s.expires_at > now()`, idHash).Scan(&g.SessionHash, &g.CustomerID, &g.InstanceURL)
	if err != nil {
		return ControlGrant{}, notFound(err, "control session")
	}
	return g, nil
}
