package customerdb

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrationLockKey is the pg_advisory_xact_lock key that serialises
// migrations of one database ("clawmigr" in ASCII). Advisory locks are scoped
// to a database, so customers never wait on each other.
const migrationLockKey int64 = 0x636c61776d696772

// migration is one embedded schema change.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations ordered by version. It fails on a
// file name without a numeric prefix or on two files with the same version, so
// a bad file breaks the tests, not a customer's database.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	var ms []migration
	seen := make(map[int]string)
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive number and '_'", base)
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", prev, base, v)
		}
		seen[v] = base
		b, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", base, err)
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// LatestVersion returns the version of the newest embedded migration, the
// schema version a fully migrated database has.
func LatestVersion() int {
	ms, err := migrations()
	if err != nil || len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].version
}

// Migrate brings the database's schema up to date by applying, in version
// order, every embedded migration not yet recorded in schema_migrations.
//
// Each migration runs in its own transaction together with its
// schema_migrations row, under a transaction-scoped advisory lock, so a
// migration is applied entirely or not at all, and two processes migrating the
// same database at once (the runtime starting while the platform migrates)
// apply each migration exactly once. Running Migrate on an up-to-date database
// changes nothing. Versions recorded in the database but unknown to this build
// (a newer build migrated it) are left alone.
func Migrate(ctx context.Context, db TxBeginner) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	if upToDate(ctx, db, ms) {
		return nil
	}
	for _, m := range ms {
		if err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error { return apply(ctx, tx, m) }); err != nil {
			return fmt.Errorf("migrate customer database to %s: %w", m.name, err)
		}
	}
	return nil
}

// upToDate reports whether every migration of ms is recorded: one query
// instead of a transaction per migration, for what a runtime meets at almost
// every start (a clone of the migrated template, or its own database). Any
// error, such as a database with no schema_migrations yet, answers false
// and Migrate takes the careful path. In a transaction of its own (a
// savepoint when db is one), so a failed look leaves db usable.
func upToDate(ctx context.Context, db TxBeginner, ms []migration) bool {
	versions := make([]int32, len(ms))
	for i, m := range ms {
		versions[i] = int32(m.version)
	}
	var n int
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, "SELECT count(*) FROM schema_migrations WHERE version = ANY($1)", versions).Scan(&n)
	})
	return err == nil && n == len(ms)
}

// apply runs one migration inside tx unless it is already recorded.
func apply(ctx context.Context, tx pgx.Tx, m migration) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockKey); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	// Looked up before creating: CREATE TABLE IF NOT EXISTS needs the CREATE
	// privilege even when the table exists, and the customer's runtime role
	// may have only DML rights on a database the platform migrated. Under
	// the lock, so concurrent creators cannot race.
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return fmt.Errorf("look up schema_migrations: %w", err)
	}
	if !exists {
		const ddl = `CREATE TABLE schema_migrations (
			version    int         PRIMARY KEY,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`
		if _, err := tx.Exec(ctx, ddl); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
	}
	var done bool
	err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)", m.version).Scan(&done)
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if done {
		return nil
	}
	// Without arguments pgx uses the simple protocol, which allows a file to
	// hold several statements.
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return fmt.Errorf("apply: %w", err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version) VALUES ($1)", m.version); err != nil {
		return fmt.Errorf("record version: %w", err)
	}
	return nil
}
