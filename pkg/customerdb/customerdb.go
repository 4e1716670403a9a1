// Package customerdb owns the schema of each customer's own database and the
// queries the platform and the customer's runtime make against it.
//
// Every customer has a separate database (a Neon branch in the cloud, a
// database cloned from a migrated template locally), so nothing here carries a
// customer id: the connection decides whose data it is.
//
// The schema is a sequence of embedded SQL migrations (migrations/NNNN_*.sql)
// applied by Migrate. Changing the schema means adding a new file, never
// editing one that has shipped.
package customerdb

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DB is what the queries in this package need. *pgx.Conn, pgx.Tx and
// *pgxpool.Pool all satisfy it, so callers choose whether a call runs in its
// own implicit transaction or inside one of theirs.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// TxBeginner is a DB that can also start a transaction. *pgx.Conn,
// *pgxpool.Pool and pgx.Tx (as a savepoint) satisfy it.
type TxBeginner interface {
	DB
	Begin(ctx context.Context) (pgx.Tx, error)
}
