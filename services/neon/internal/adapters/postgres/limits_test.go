package postgres_test

import (
	"context"
	"testing"
	"time"

	"clawdbot.cloud/services/neon/internal/adapters/postgres"
)

// TestCustomerRoleLimits proves each limit of a customer's role holds
// against the role itself: one connection past CONNECTION LIMIT is refused
// (53300 too_many_connections), a statement running past statement_timeout
// is cancelled (57014 query_canceled) and a session idle in a transaction
// past idle_in_transaction_session_timeout is ended.
func TestCustomerRoleLimits(t *testing.T) {
	f := openFixture(t, postgres.Config{Limits: postgres.Limits{
		ConnectionLimit: 2, StatementTimeout: 300 * time.Millisecond, IdleInTransactionTimeout: 300 * time.Millisecond,
	}})
	db := f.create(t, f.newCustomer(t))
	u := f.url(t, db)

	t.Run("connection limit", func(t *testing.T) {
		connect(t, u)
		connect(t, u)
		if err := connectErr(t, u); sqlState(err) != "53300" {
			t.Fatalf("third connection with a limit of 2: got %v, want too_many_connections (53300)", err)
		}
	})

	t.Run("statement timeout", func(t *testing.T) {
		sessionsGone(t, f, db.Name) // the last subtest's, past the limit of 2
		conn := connect(t, u)
		_, err := conn.Exec(t.Context(), "SELECT pg_sleep(5)")
		if sqlState(err) != "57014" {
			t.Fatalf("a 5 s statement: got %v, want canceling statement due to statement timeout (57014)", err)
		}
	})

	t.Run("idle in transaction", func(t *testing.T) {
		sessionsGone(t, f, db.Name)
		conn := connect(t, u)
		tx, err := conn.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var pid int
		if err := tx.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			t.Fatal(err)
		}
		// The server ends the session once the transaction idles past the
		// timeout; watch for that from the admin side, bounded, instead of
		// sleeping a guess.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var alive bool
			if err := f.admin.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", pid).Scan(&alive); err != nil {
				t.Fatal(err)
			}
			if !alive {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a session idle in a transaction for 10 s was not ended")
			}
			time.Sleep(50 * time.Millisecond)
		}
		if _, err := tx.Exec(t.Context(), "SELECT 1"); err == nil {
			t.Fatal("the ended session still answers")
		}
		_ = tx.Rollback(context.Background())
	})

	t.Run("settings are the role's", func(t *testing.T) {
		var limit int
		var config []string
		err := f.admin.QueryRow(t.Context(), `SELECT rolconnlimit, coalesce(rolconfig, '{}') FROM pg_roles WHERE rolname = $1`, db.Name).Scan(&limit, &config)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]bool{"statement_timeout=300": true, "idle_in_transaction_session_timeout=300": true}
		for _, c := range config {
			delete(want, c)
		}
		if limit != 2 || len(want) != 0 {
			t.Errorf("role %s: connection limit %d, config %v; want 2 and both timeouts", db.Name, limit, config)
		}
	})
}

// TestDefaultLimits proves a driver configured with no limits still sets
// the documented defaults.
func TestDefaultLimits(t *testing.T) {
	f := newFixture(t, "")
	db := f.create(t, f.newCustomer(t))
	var limit int
	var config []string
	if err := f.admin.QueryRow(t.Context(), `SELECT rolconnlimit, coalesce(rolconfig, '{}') FROM pg_roles WHERE rolname = $1`, db.Name).Scan(&limit, &config); err != nil {
		t.Fatal(err)
	}
	if limit != postgres.DefaultLimits.ConnectionLimit || len(config) != 2 {
		t.Errorf("defaults: limit %d config %v", limit, config)
	}
	var timeout string
	if err := connect(t, f.url(t, db)).QueryRow(t.Context(), "SHOW statement_timeout").Scan(&timeout); err != nil || timeout != "30s" {
		t.Errorf("a customer session's statement_timeout: %q (%v), want 30s", timeout, err)
	}
}

// sessionsGone waits until role has no session left on the server. A
// closed connection's backend exits after the client has moved on, and
// until it has, it counts against the role's CONNECTION LIMIT (a loaded
// machine failed the next subtest's connection with 53300).
func sessionsGone(t *testing.T, f *fixture, role string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		if err := f.admin.QueryRow(t.Context(), "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", role).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions of %s still open 10 s after their connections closed", n, role)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
