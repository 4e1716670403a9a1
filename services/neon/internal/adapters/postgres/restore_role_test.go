package postgres_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgcluster"
	"clawdbot.cloud/services/neon/internal/adapters/archive"
	"clawdbot.cloud/services/neon/internal/adapters/postgres"
)

// TestRestoreRunsAsTheCustomerRole proves pg_restore logs in as the
// customer's own role, never the admin (a superuser, or the CREATEROLE
// customer admin): the driver's pg_restore is a real
// one behind a wrapper that records the user it was given, and everything
// in the restored database belongs to the customer's role.
func TestRestoreRunsAsTheCustomerRole(t *testing.T) {
	t.Run("superuser admin", func(t *testing.T) { testRestoreAsCustomer(t, "") })
	t.Run("customer admin", func(t *testing.T) { testRestoreAsCustomer(t, customerAdminURL(t)) })
}

func testRestoreAsCustomer(t *testing.T, adminURL string) {
	real, err := pgcluster.FindBinDir()
	if err != nil {
		t.Fatalf("pg_dump and pg_restore are needed: %v", err)
	}
	bin, logs := t.TempDir(), t.TempDir()
	for _, prog := range []string{"pg_dump", "pg_restore"} {
		script := "#!/bin/sh\necho \"$PGUSER\" >> " + filepath.Join(logs, prog) + "\nexec " + filepath.Join(real, prog) + " \"$@\"\n"
		if err := os.WriteFile(filepath.Join(bin, prog), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	store, err := archive.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := openFixture(t, postgres.Config{AdminURL: adminURL, Archives: store, BinDir: bin})
	id := f.newCustomer(t)
	db := f.create(t, id)
	conn := connect(t, f.url(t, db))
	if _, err := customerdb.AddMemory(t.Context(), conn, "restored as its own role", nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	conn.Close(t.Context()) //nolint:errcheck

	a, err := f.driver.Archive(t.Context(), id)
	if err != nil {
		t.Fatalf("Archive: %v", err)
	}
	if _, err := f.driver.Restore(t.Context(), id, a.Ref); err != nil {
		t.Fatalf("Restore: %v", err)
	}

	users, err := os.ReadFile(filepath.Join(logs, "pg_restore"))
	if err != nil {
		t.Fatalf("pg_restore did not run: %v", err)
	}
	if got := strings.TrimSpace(string(users)); got != db.Name {
		t.Errorf("pg_restore logged in as %q, want the customer's role %q", got, db.Name)
	}

	restored := connect(t, f.url(t, db))
	var n int
	if err := restored.QueryRow(t.Context(), `SELECT count(*) FROM memories WHERE content = 'restored as its own role'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("the memory after restore: count %d, err %v", n, err)
	}
	var foreign []string
	rows, err := restored.Query(t.Context(), `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $1)`, db.Name)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		foreign = append(foreign, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(foreign) > 0 {
		t.Errorf("restored objects not owned by %s: %v", db.Name, foreign)
	}
}
