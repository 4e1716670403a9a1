// Package store is the web app's Postgres state in schema "web": accounts
// projected from the bus, browser sessions, one-time sign-in links, the
// checkouts the app started, the Control UI's handoffs and control
// sessions and, in dev mode, kept mail.
//
// Secrets that grant access (session cookies, sign-in tokens) are stored
// only as SHA-256 digests, so a read of the table grants nothing.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/migrate"
)

// Schema is the Postgres schema the service owns.
const Schema = "web"

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a row does not exist (or has expired).
var ErrNotFound = errors.New("not found")

// Store reads and writes the web app's tables. It is safe for concurrent use.
type Store struct {
	db *pgxpool.Pool
}

// Open migrates schema "web" and returns a Store on db.
func Open(ctx context.Context, db *pgxpool.Pool) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	if err := migrate.Apply(ctx, db, Schema, sub); err != nil {
		return nil, fmt.Errorf("web store: %w", err)
	}
	return &Store{db: db}, nil
}

// Sweep deletes expired sessions, used or expired sign-in links and
// checkouts older than a day, and returns how many rows went.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	var n int64
	for _, q := range []string{
		`DELETE FROM web.sessions WHERE expires_at < now()`,
		`DELETE FROM web.login_tokens WHERE expires_at < now() - interval '1 hour'`,
		`DELETE FROM web.checkouts WHERE created_at < now() - interval '1 day'`,
		`DELETE FROM web.dev_mail WHERE created_at < now() - interval '7 days'`,
		`DELETE FROM web.google_oauth_states WHERE expires_at < now() - interval '1 hour'`,
		`DELETE FROM web.control_handoffs WHERE expires_at < now() - interval '1 hour'`,
		`DELETE FROM web.control_sessions WHERE expires_at < now()`,
	} {
		tag, err := s.db.Exec(ctx, q)
		if err != nil {
			return n, fmt.Errorf("sweep: %w", err)
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}
