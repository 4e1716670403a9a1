// Package pgjournal is bus.Journal in Postgres: the processed_commands
// table of a service's own schema.
package pgjournal

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Journal is a bus.Journal in the table <schema>.processed_commands.
type Journal struct {
	db     *pgxpool.Pool
	schema string
	table  string
}

// New returns the journal in schema; Migrate creates its table.
func New(db *pgxpool.Pool, schema string) *Journal {
	return &Journal{db: db, schema: schema, table: pgx.Identifier{schema, "processed_commands"}.Sanitize()}
}

// Migrate creates the journal's table if it is missing.
func (j *Journal) Migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	return migrate.Apply(ctx, j.db, j.schema, sub)
}

// Done reports whether the command with key was carried out.
func (j *Journal) Done(ctx context.Context, key string) (bool, error) {
	var ok bool
	err := j.db.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+j.table+` WHERE key = $1)`, key).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("read command journal: %w", err)
	}
	return ok, nil
}

// Record notes that the command with key was carried out.
func (j *Journal) Record(ctx context.Context, key string) error {
	_, err := j.db.Exec(ctx, `INSERT INTO `+j.table+` (key) VALUES ($1) ON CONFLICT (key) DO NOTHING`, key)
	if err != nil {
		return fmt.Errorf("write command journal: %w", err)
	}
	return nil
}
