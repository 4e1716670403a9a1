// Package customerconn opens short-lived connections to a customer's own
// database from the connection URL kept in the secret store. The URL holds a
// password, so it never appears in an error or a log line from here.
package customerconn

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ErrGone reports that the customer's database (or its role) no longer
// exists: there is nothing in it to read or delete.
var ErrGone = errors.New("customer database does not exist")

// ErrBadURL reports a stored connection URL that does not parse; retrying
// cannot fix it.
var ErrBadURL = errors.New("customer database URL does not parse")

// Postgres error codes that mean the database or the role is gone.
const (
	invalidCatalogName   = "3D000" // database "x" does not exist
	invalidAuthorization = "28000" // role "x" does not exist
	undefinedTable       = "42P01" // the database was never migrated
)

// Connect opens one connection to the database at url, giving up after
// timeout. The caller closes it. service names the connection in
// pg_stat_activity.
func Connect(ctx context.Context, url, service string, timeout time.Duration) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's parse error quotes the URL (password redacted); say less.
		return nil, ErrBadURL
	}
	cfg.ConnectTimeout = timeout
	cfg.RuntimeParams["application_name"] = "clawdbot-" + service
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		if Gone(err) {
			return nil, fmt.Errorf("%w: %w", ErrGone, err)
		}
		return nil, fmt.Errorf("connect to customer database: %w", err)
	}
	return conn, nil
}

// Gone reports whether err says the database, its role or its tables do not
// exist.
func Gone(err error) bool {
	if errors.Is(err, ErrGone) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case invalidCatalogName, invalidAuthorization, undefinedTable:
		return true
	}
	return false
}
