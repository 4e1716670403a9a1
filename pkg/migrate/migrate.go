// Package migrate applies a service's SQL migrations to its own Postgres
// schema, in order, once, safely when several replicas start together.
package migrate

import (
	"context"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Apply runs every *.sql file of fsys (sorted by name) that has not run yet
// in schema, each in its own transaction, recording it in
// <schema>.schema_migrations. The search_path is the schema, so migrations
// name their tables without a prefix.
func Apply(ctx context.Context, db *pgxpool.Pool, schema string, fsys fs.FS) error {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(files)
	conn, err := db.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	defer conn.Release()

	h := fnv.New64a()
	h.Write([]byte("migrate:" + schema))
	lock := int64(h.Sum64())
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lock); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", schema, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lock) //nolint:errcheck

	ident := pgx.Identifier{schema}.Sanitize()
	// Looked up before creating: CREATE SCHEMA IF NOT EXISTS needs CREATE on
	// the database even when the schema exists, and a service's own role
	// (pkg/dbroles) owns its schema without that right.
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+ident); err != nil {
			return fmt.Errorf("migrate %s: %w", schema, err)
		}
	}
	if _, err := conn.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`, ident)); err != nil {
		return fmt.Errorf("migrate %s: %w", schema, err)
	}
	for _, name := range files {
		var done bool
		if err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT EXISTS (SELECT 1 FROM %s.schema_migrations WHERE name = $1)`, ident), name).Scan(&done); err != nil {
			return fmt.Errorf("migrate %s: %w", schema, err)
		}
		if done {
			continue
		}
		body, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL search_path TO "+ident); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.schema_migrations (name) VALUES ($1)`, ident), name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %s: %w", schema, strings.TrimSuffix(name, ".sql"), err)
		}
	}
	return nil
}
