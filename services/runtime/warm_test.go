package runtime_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/testbuf"
	"clawdbot.cloud/services/runtime"
)

// warmDB is a customer database owned by a role of its own that logs in
// with a password, as a warm pool entry's is.
type warmDB struct {
	admin *pgxpool.Pool
	super string // the database's URL as the test server's superuser
	name  string
	role  string
}

func newWarmDB(t *testing.T) *warmDB {
	t.Helper()
	admin := pgtest.AdminPool(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	role := "warm_" + hex.EncodeToString(b)
	if _, err := admin.Exec(t.Context(), "CREATE ROLE "+pgx.Identifier{role}.Sanitize()+" LOGIN PASSWORD 'first-password'"); err != nil {
		t.Fatal(err)
	}
	db := &warmDB{admin: admin, role: role}
	// Registered before the database's own cleanup, so it runs after the
	// database is dropped: a role that owns one cannot be.
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+pgx.Identifier{db.role}.Sanitize())
	})
	db.super = pgtest.NewDatabase(t)
	u, err := url.Parse(db.super)
	if err != nil {
		t.Fatal(err)
	}
	db.name = strings.TrimPrefix(u.Path, "/")
	if _, err := admin.Exec(t.Context(), "ALTER DATABASE "+pgx.Identifier{db.name}.Sanitize()+" OWNER TO "+pgx.Identifier{role}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	return db
}

// url is the database's URL logging in as user with password.
func (db *warmDB) url(t *testing.T, user, password string) string {
	t.Helper()
	u, err := url.Parse(db.super)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, password)
	return u.String()
}

// claim does to the role what the database service's claim does: a new
// name and a new password, while the warm runtime is connected.
func (db *warmDB) claim(t *testing.T, role, password string) {
	t.Helper()
	q := "ALTER ROLE " + pgx.Identifier{db.role}.Sanitize() + " RENAME TO " + pgx.Identifier{role}.Sanitize() +
		"; ALTER ROLE " + pgx.Identifier{role}.Sanitize() + " PASSWORD '" + password + "'"
	if _, err := db.admin.Exec(t.Context(), q); err != nil {
		t.Fatal(err)
	}
	db.role = role
}

// backends returns the pids of the runtime's backends on the database.
func (db *warmDB) backends(t *testing.T) []int {
	t.Helper()
	rows, err := db.admin.Query(t.Context(), `SELECT pid FROM pg_stat_activity
		WHERE datname = $1 AND application_name = 'clawdbot-runtime' ORDER BY pid`, db.name)
	if err != nil {
		t.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return pids
}

// A runtime started ahead of its customer connects and checks the schema
// while it waits, keeps that connection however long it waits, and serves
// its customer on it after a claim renamed its role and changed its
// password; connections it opens later log in as the customer.
func TestAWarmRuntimeServesItsCustomerOnTheConnectionItOpenedAhead(t *testing.T) {
	db := newWarmDB(t)
	logs := &testbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	opts := runtime.Options{DBIdle: 100 * time.Millisecond}
	w, err := runtime.WarmUp(t.Context(), runtime.Warm{Warm: true, InstanceID: "pool-entry-1",
		DatabaseURL: db.url(t, db.role, "first-password")}, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	warm := db.backends(t)
	if len(warm) != 1 {
		t.Fatalf("warm runtime's backends = %v, want one", warm)
	}
	// Five idle periods: a runtime serving a customer would have closed it.
	time.Sleep(5 * opts.DBIdle)
	if got := db.backends(t); len(got) != 1 || got[0] != warm[0] {
		t.Fatalf("backends after waiting = %v, want the warm one %v kept", got, warm)
	}

	db.claim(t, "claw_customer_"+db.role, "second-password")
	in := startInstance(t, "cus_WARM", plans.Starter, withWarmed(w), withOptions(opts),
		withDatabase(db.url(t, db.role, "second-password")))
	if got := db.backends(t); len(got) != 1 || got[0] != warm[0] {
		t.Fatalf("backends once serving = %v, want the warm one %v", got, warm)
	}
	if strings.Contains(logs.String(), "not the one warmed up") {
		t.Fatalf("the customer's own database was taken for another:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "warm: connected") {
		t.Fatalf("no warm start logged:\n%s", logs)
	}

	// Serving a customer, it closes idle connections again...
	deadline := time.Now().Add(10 * time.Second)
	for len(db.backends(t)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the warm connection was not closed once idle: backends %v", db.backends(t))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// ...and the next one logs in as the customer, with the new password.
	key := in.addKey(t)
	resp, body := in.do(t, http.MethodGet, "/api/memory", key, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/memory after the idle close: %d %s", resp.StatusCode, body)
	}
	// The warm login's role name and password are both gone: only the
	// customer's could have opened that connection.
}

// A configuration naming another database than the one warmed up is
// served all the same, on a connection of its own.
func TestAWarmRuntimeGivenAnotherDatabaseConnectsToIt(t *testing.T) {
	db := newWarmDB(t)
	logs := &testbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	w, err := runtime.WarmUp(t.Context(), runtime.Warm{Warm: true, InstanceID: "pool-entry-2",
		DatabaseURL: db.url(t, db.role, "first-password")}, log, runtime.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := startInstance(t, "cus_WARM2", plans.Starter, withWarmed(w))
	if !strings.Contains(logs.String(), "not the one warmed up") {
		t.Errorf("no warning that the warmed connection went unused:\n%s", logs)
	}
	if got := db.backends(t); len(got) != 0 {
		t.Errorf("the warmed database still has backends %v", got)
	}
	key := in.addKey(t)
	if resp, body := in.do(t, http.MethodGet, "/api/memory", key, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/memory: %d %s", resp.StatusCode, body)
	}
}
