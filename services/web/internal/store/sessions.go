package store

import (
	"context"
	"fmt"
	"time"
)

// Session is a signed-in browser.
type Session struct {
	CustomerID string
	// CSRF is the token every state-changing request of this session must
	// carry (form field or X-CSRF-Token header).
	CSRF      string
	ExpiresAt time.Time
}

// CreateSession stores a session by the SHA-256 of its cookie value.
func (s *Store) CreateSession(ctx context.Context, idHash []byte, customerID, csrf string, expires time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO web.sessions (id_hash, customer_id, csrf, expires_at) VALUES ($1, $2, $3, $4)`,
		idHash, customerID, csrf, expires)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Session returns the live session with this cookie hash and records its
// use, ending it if it has been idle longer than idle; ErrNotFound when
// there is none (never was, expired, idle, signed out).
func (s *Store) Session(ctx context.Context, idHash []byte, idle time.Duration) (Session, error) {
	var ss Session
	err := s.db.QueryRow(ctx, `
UPDATE web.sessions SET last_seen_at = now()
WHERE id_hash = $1 AND expires_at > now() AND last_seen_at > now() - make_interval(secs => $2)
RETURNING customer_id, csrf, expires_at`, idHash, idle.Seconds()).Scan(&ss.CustomerID, &ss.CSRF, &ss.ExpiresAt)
	if err != nil {
		return Session{}, notFound(err, "session")
	}
	return ss, nil
}

// DeleteSession signs a browser out.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	if _, err := s.db.Exec(ctx, `DELETE FROM web.sessions WHERE id_hash = $1`, idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// CreateLoginToken stores a one-time sign-in link by the SHA-256 of its token.
func (s *Store) CreateLoginToken(ctx context.Context, tokenHash []byte, customerID string, expires time.Time) error {
	_, err := s.db.Exec(ctx, `INSERT INTO web.login_tokens (token_hash, customer_id, expires_at) VALUES ($1, $2, $3)`,
		tokenHash, customerID, expires)
	if err != nil {
		return fmt.Errorf("create login token: %w", err)
	}
	return nil
}

// UseLoginToken marks a sign-in link used and returns its customer. It
// succeeds once per token, before its expiry; ErrNotFound otherwise (of
// concurrent uses exactly one wins: the UPDATE's row lock decides).
func (s *Store) UseLoginToken(ctx context.Context, tokenHash []byte) (string, error) {
	var customer string
	err := s.db.QueryRow(ctx, `UPDATE web.login_tokens SET used_at = now()
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now() RETURNING customer_id`, tokenHash).Scan(&customer)
	if err != nil {
		return "", notFound(err, "login token")
	}
	return customer, nil
}

// LoginTokenValid reports whether a sign-in link could still be used,
// without using it (the page that asks "sign in?" before the POST).
func (s *Store) LoginTokenValid(ctx context.Context, tokenHash []byte) (bool, error) {
	var ok bool
	err := s.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM web.login_tokens
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now())`, tokenHash).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("check login token: %w", err)
	}
	return ok, nil
}

// RecordCheckout remembers which reveal hash started a Checkout Session.
func (s *Store) RecordCheckout(ctx context.Context, checkoutSessionID, revealHash, plan string) error {
	_, err := s.db.Exec(ctx, `INSERT INTO web.checkouts (checkout_session_id, reveal_hash, plan) VALUES ($1, $2, $3)
		ON CONFLICT (checkout_session_id) DO NOTHING`, checkoutSessionID, revealHash, plan)
	if err != nil {
		return fmt.Errorf("record checkout: %w", err)
	}
	return nil
}

// CheckoutRevealHash returns the reveal hash that started a Checkout
// Session, or ErrNotFound.
func (s *Store) CheckoutRevealHash(ctx context.Context, checkoutSessionID string) (string, error) {
	var h string
	err := s.db.QueryRow(ctx, `SELECT reveal_hash FROM web.checkouts WHERE checkout_session_id = $1`, checkoutSessionID).Scan(&h)
	if err != nil {
		return "", notFound(err, "checkout")
	}
	return h, nil
}

// KeptMail is a mail kept in dev mode instead of being sent.
type KeptMail struct {
	ID        int64
	To        string
	Subject   string
	Body      string
	CreatedAt time.Time
}

// KeepMail stores a mail for the dev mailbox.
func (s *Store) KeepMail(ctx context.Context, m KeptMail) error {
	_, err := s.db.Exec(ctx, `INSERT INTO web.dev_mail (to_addr, subject, body) VALUES ($1, $2, $3)`, m.To, m.Subject, m.Body)
	if err != nil {
		return fmt.Errorf("keep mail: %w", err)
	}
	return nil
}

// KeptMails returns the newest kept mails.
func (s *Store) KeptMails(ctx context.Context, limit int) ([]KeptMail, error) {
	rows, err := s.db.Query(ctx, `SELECT id, to_addr, subject, body, created_at FROM web.dev_mail ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("kept mail: %w", err)
	}
	defer rows.Close()
	var out []KeptMail
	for rows.Next() {
		var m KeptMail
		if err := rows.Scan(&m.ID, &m.To, &m.Subject, &m.Body, &m.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}
