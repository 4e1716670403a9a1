package customerdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoGoogle is returned when no Google account is connected.
var ErrNoGoogle = errors.New("no google account connected")

// GoogleAccount is the connected Google account. The tokens are sealed by
// the runtime before they are stored; this package never sees them in clear.
type GoogleAccount struct {
	Email        string
	Scopes       []string
	AccessToken  []byte
	RefreshToken []byte
	ExpiresAt    time.Time
	ConnectedAt  time.Time
	RefreshedAt  *time.Time
}

// PutGoogleAccount connects (or reconnects) the account, replacing any
// other.
func PutGoogleAccount(ctx context.Context, db DB, a GoogleAccount) error {
	const q = `
INSERT INTO google_account (id, email, scopes, access_token, refresh_token, expires_at)
VALUES (true, $1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET email = excluded.email, scopes = excluded.scopes,
    access_token = excluded.access_token, refresh_token = excluded.refresh_token,
    expires_at = excluded.expires_at, connected_at = now(), refreshed_at = NULL`
	if _, err := db.Exec(ctx, q, a.Email, a.Scopes, a.AccessToken, a.RefreshToken, a.ExpiresAt); err != nil {
		return fmt.Errorf("put google account: %w", err)
	}
	return nil
}

// GoogleAccountFor returns the connected account, or ErrNoGoogle.
func GoogleAccountFor(ctx context.Context, db DB) (GoogleAccount, error) {
	var a GoogleAccount
	err := db.QueryRow(ctx, `SELECT email, scopes, access_token, refresh_token, expires_at, connected_at, refreshed_at
		FROM google_account`).Scan(&a.Email, &a.Scopes, &a.AccessToken, &a.RefreshToken, &a.ExpiresAt, &a.ConnectedAt, &a.RefreshedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return GoogleAccount{}, ErrNoGoogle
	}
	if err != nil {
		return GoogleAccount{}, fmt.Errorf("read google account: %w", err)
	}
	return a, nil
}

// UpdateGoogleAccess stores a refreshed access token, unless the account
// was disconnected (or reconnected: refresh must still match) meanwhile.
func UpdateGoogleAccess(ctx context.Context, db DB, refresh, access []byte, expires time.Time) error {
	_, err := db.Exec(ctx, `UPDATE google_account SET access_token = $2, expires_at = $3, refreshed_at = now()
		WHERE refresh_token = $1`, refresh, access, expires)
	if err != nil {
		return fmt.Errorf("update google access token: %w", err)
	}
	return nil
}

// DeleteGoogleAccount disconnects the account and forgets its pending
// sends. It reports whether one was connected.
func DeleteGoogleAccount(ctx context.Context, db TxBeginner) (bool, error) {
	var n int64
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM google_account`)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, `DELETE FROM google_pending_sends WHERE sent_at IS NULL`)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete google account: %w", err)
	}
	return n == 1, nil
}

// PendingSend is a draft waiting for the customer's confirmation.
type PendingSend struct {
	Code           string
	ConversationID string
	DraftID        string
	Recipients     string
	Subject        string
	ExpiresAt      time.Time
	SentAt         *time.Time
}

// AddPendingSend records a draft waiting for "send <code>".
func AddPendingSend(ctx context.Context, db DB, p PendingSend) error {
	_, err := db.Exec(ctx, `INSERT INTO google_pending_sends (code, conversation_id, draft_id, recipients, subject, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, p.Code, p.ConversationID, p.DraftID, p.Recipients, p.Subject, p.ExpiresAt)
	if err != nil {
		return fmt.Errorf("add pending send: %w", err)
	}
	return nil
}

// ErrNoPendingSend is returned for a code unknown in the conversation,
// expired or already used.
var ErrNoPendingSend = errors.New("no such draft waiting to be sent in this conversation (unknown, expired or already sent)")

// ClaimPendingSend marks the conversation's pending send code as sent and
// returns it; a second claim, another conversation's code or an expired
// one is ErrNoPendingSend. The update decides between concurrent claims.
func ClaimPendingSend(ctx context.Context, db DB, conversationID, code string, now time.Time) (PendingSend, error) {
	var p PendingSend
	err := db.QueryRow(ctx, `UPDATE google_pending_sends SET sent_at = $3
		WHERE code = $1 AND conversation_id = $2 AND sent_at IS NULL AND expires_at > $3
		RETURNING code, conversation_id, draft_id, recipients, subject, expires_at, sent_at`,
		code, conversationID, now).Scan(&p.Code, &p.ConversationID, &p.DraftID, &p.Recipients, &p.Subject, &p.ExpiresAt, &p.SentAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return PendingSend{}, ErrNoPendingSend
	}
	if err != nil {
		return PendingSend{}, fmt.Errorf("claim pending send: %w", err)
	}
	return p, nil
}

// UnclaimPendingSend gives a claimed code back when sending failed, so the
// customer can try again.
func UnclaimPendingSend(ctx context.Context, db DB, code string) error {
	if _, err := db.Exec(ctx, `UPDATE google_pending_sends SET sent_at = NULL WHERE code = $1`, code); err != nil {
		return fmt.Errorf("unclaim pending send: %w", err)
	}
	return nil
}
