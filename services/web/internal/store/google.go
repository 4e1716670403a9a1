package store

import (
	"context"
	"fmt"
	"time"
)

// AddGoogleState records an OAuth state (its hash) started by the session
// sessionHash for customerID, with its PKCE verifier.
func (s *Store) AddGoogleState(ctx context.Context, stateHash, sessionHash []byte, customerID, verifier string, expires time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO web.google_oauth_states (state_hash, session_hash, customer_id, verifier, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, stateHash, sessionHash, customerID, verifier, expires)
	if err != nil {
		return fmt.Errorf("add google state: %w", err)
	}
	return nil
}

// TakeGoogleState uses a state once: it returns the customer and verifier
// when the state is known, was started by the same session, is unexpired
// and unused, and marks it used; otherwise ErrNotFound. The UPDATE decides
// between concurrent uses.
func (s *Store) TakeGoogleState(ctx context.Context, stateHash, sessionHash []byte, now time.Time) (customerID, verifier string, err error) {
	err = s.db.QueryRow(ctx, `UPDATE web.google_oauth_states SET used_at = $3
		WHERE state_hash = $1 AND session_hash = $2 AND used_at IS NULL AND expires_at > $3
		RETURNING customer_id, verifier`, stateHash, sessionHash, now).Scan(&customerID, &verifier)
	if err != nil {
		return "", "", notFound(err, "take google state")
	}
	return customerID, verifier, nil
}
