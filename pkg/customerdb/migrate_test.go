package customerdb

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/pgtest"
)

func TestMigrationsAreNumberedFromOne(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no embedded migrations")
	}
	for i, m := range ms {
		if m.version != i+1 {
			t.Errorf("migration %d is %s (version %d); versions must be 1, 2, 3, ... without gaps", i, m.name, m.version)
		}
	}
	if got := LatestVersion(); got != len(ms) {
		t.Errorf("LatestVersion() = %d, want %d", got, len(ms))
	}
}

func appliedVersions(t *testing.T, db DB) []int {
	t.Helper()
	rows, err := db.Query(t.Context(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// wantVersions are the embedded migrations' versions (that they run 1, 2,
// 3, ... is TestMigrationsAreNumberedFromOne's concern).
func wantVersions() []int {
	ms, _ := migrations()
	var vs []int
	for _, m := range ms {
		vs = append(vs, m.version)
	}
	return vs
}

func TestMigrateIsIdempotent(t *testing.T) {
	pool := migrated(t)
	if err := PutFiles(t.Context(), pool, File{Path: "AGENTS.md", Content: "keep me"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := Migrate(t.Context(), pool); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	}
	if diff := cmp.Diff(wantVersions(), appliedVersions(t, pool)); diff != "" {
		t.Errorf("schema_migrations (-want +got):\n%s", diff)
	}
	files, err := ReadWorkspace(t.Context(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 {
		t.Errorf("data lost by re-migrating: %v", files)
	}
}

func TestMigrateConcurrently(t *testing.T) {
	pool := pgtest.NewPool(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = Migrate(t.Context(), pool) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Migrate #%d: %v", i, err)
		}
	}
	if diff := cmp.Diff(wantVersions(), appliedVersions(t, pool)); diff != "" {
		t.Errorf("schema_migrations (-want +got):\n%s", diff)
	}
}

func TestMigrateInsideCallerTransaction(t *testing.T) {
	pool := pgtest.NewPool(t)
	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(t.Context())
	// Each migration becomes a savepoint of the caller's transaction.
	if err := Migrate(t.Context(), tx); err != nil {
		t.Fatalf("Migrate in tx: %v", err)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := pool.QueryRow(t.Context(), "SELECT to_regclass('schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Error("rolled-back migration left schema_migrations behind")
	}
}

// A database the platform migrated as its owner must start a runtime whose
// role has only data rights: re-running Migrate then needs no DDL privilege.
func TestMigrateUpToDateNeedsNoDDLPrivilege(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	role := "rt_" + strings.ReplaceAll(strings.ToLower(t.Name()), "/", "_")
	for _, q := range []string{
		"DROP ROLE IF EXISTS " + role,
		"CREATE ROLE " + role + " LOGIN PASSWORD 'pw'",
		"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " + role,
		"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO " + role,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	t.Cleanup(func() {
		// The database (and the grants in it) goes with the test; the role
		// is cluster-wide, so drop its privileges first.
		_, _ = pool.Exec(context.Background(), "DROP OWNED BY "+role)
		_, _ = pool.Exec(context.Background(), "DROP ROLE IF EXISTS "+role)
	})
	cfg := pool.Config().ConnConfig.Copy()
	cfg.User, cfg.Password = role, "pw"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := Migrate(ctx, conn); err != nil {
		t.Fatalf("Migrate as a data-only role: %v", err)
	}
	h, p := newKey(t)
	if err := AddAPIKey(ctx, conn, h, p); err != nil {
		t.Fatalf("AddAPIKey as a data-only role: %v", err)
	}
}
