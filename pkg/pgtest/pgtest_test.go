package pgtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

func TestMain(m *testing.M) { Main(m) }

func databaseExists(t *testing.T, admin *pgxpool.Pool, name string) bool {
	t.Helper()
	var n int
	if err := admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func currentDatabase(t *testing.T, pool *pgxpool.Pool) string {
	t.Helper()
	var name string
	if err := pool.QueryRow(t.Context(), "SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestNewPoolIsolation(t *testing.T) {
	a, b := NewPool(t), NewPool(t)
	if currentDatabase(t, a) == currentDatabase(t, b) {
		t.Fatalf("both pools on database %s", currentDatabase(t, a))
	}
	if _, err := a.Exec(t.Context(), "CREATE TABLE only_in_a (id int)"); err != nil {
		t.Fatal(err)
	}
	var found bool
	if err := b.QueryRow(t.Context(), "SELECT to_regclass('only_in_a') IS NOT NULL").Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found {
		t.Error("a table created in one test database is visible in another")
	}
}

func TestNewDatabaseDroppedAfterTest(t *testing.T) {
	admin := AdminPool(t)
	var name string
	var leftOpen *pgx.Conn
	t.Run("sub", func(t *testing.T) {
		u := NewDatabase(t)
		var err error
		// A connection the test forgot to close must not stop the drop.
		leftOpen, err = pgx.Connect(t.Context(), u)
		if err != nil {
			t.Fatal(err)
		}
		name = leftOpen.Config().Database
		if !databaseExists(t, admin, name) {
			t.Fatalf("database %s not created", name)
		}
	})
	defer leftOpen.Close(context.Background())
	if databaseExists(t, admin, name) {
		t.Errorf("database %s still exists after its test ended", name)
	}
	if err := leftOpen.Ping(t.Context()); err == nil {
		t.Error("connection to the dropped database still works")
	}
}

func TestParallelDatabases(t *testing.T) {
	for _, name := range []string{"one", "two", "three", "four"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pool := NewPool(t)
			if _, err := pool.Exec(t.Context(), "CREATE TABLE t (v text)"); err != nil {
				t.Fatal(err)
			}
			if _, err := pool.Exec(t.Context(), "INSERT INTO t VALUES ($1)", name); err != nil {
				t.Fatal(err)
			}
			var got string
			if err := pool.QueryRow(t.Context(), "SELECT v FROM t").Scan(&got); err != nil || got != name {
				t.Fatalf("got %q, %v; want %q", got, err, name)
			}
		})
	}
}

func TestAdminURLIsSuperuser(t *testing.T) {
	var super bool
	if err := AdminPool(t).QueryRow(t.Context(), "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		t.Error("AdminURL does not connect as a superuser")
	}
}

func TestDatabaseName(t *testing.T) {
	tests := []struct{ test, prefix string }{
		{"TestSignup", "t_testsignup_"},
		{"TestSignup/card declined!", "t_testsignup_card_declined_"},
		{"Test" + strings.Repeat("X", 100), "t_test" + strings.Repeat("x", 38) + "_"},
	}
	for _, tt := range tests {
		got := databaseName(tt.test)
		if !strings.HasPrefix(got, tt.prefix) || len(got) != len(tt.prefix)+12 || len(got) > 63 {
			t.Errorf("databaseName(%q) = %q; want %q + 12 hex digits", tt.test, got, tt.prefix)
		}
	}
	if a, b := databaseName("TestX"), databaseName("TestX"); a == b {
		t.Error("databaseName is not unique")
	}
}

func TestUnusableEnvURLFails(t *testing.T) {
	t.Setenv(EnvURL, "postgres://postgres:x@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5")
	_, err := setup()
	if err == nil || !strings.Contains(err.Error(), EnvURL+" is set but unusable") {
		t.Fatalf("setup = %v; want an error naming %s", err, EnvURL)
	}
	t.Setenv(EnvURL, "host=127.0.0.1 user=postgres")
	if _, err := setup(); err == nil || strings.Contains(err.Error(), "user=postgres") {
		t.Fatalf("setup = %v; want an error that does not repeat the value", err)
	}
}
