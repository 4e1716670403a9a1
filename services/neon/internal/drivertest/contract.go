// Package drivertest is the contract every database driver passes: the
// embedded postgres driver and the Neon driver. A driver's tests call
// RunDriverContract with a constructor for a fresh driver.
package drivertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/neon/internal/app"
)

// Subject is a driver under test and what the suite needs to look behind it.
type Subject struct {
	// Driver is the driver under test.
	Driver app.Driver
	// Secrets is the store the driver keeps connection URLs in; Get reports
	// a missing secret with an error wrapping secrets.ErrNotFound.
	Secrets interface {
		Get(ctx context.Context, ref string) ([]byte, error)
	}
	// Exists, when set, reports whether the customer's database and role
	// exist on the provider, so that deletion is checked directly and not
	// only by the old credentials failing.
	Exists func(ctx context.Context, customerID string) (database, role bool, err error)
	// Database, when set, is the name current_database() reports through
	// the customer's stored URL; nil means Database.Name (one server, one
	// database per customer). On Neon every branch has the parent's
	// database name.
	Database func(customerID string) string
	// Aim returns the URL with which the credentials in credsURL try to
	// open the database targetURL opens; nil means credsURL naming that
	// database, for drivers whose customers share one server. Where each
	// customer has a server (endpoint) of its own, as on Neon, it is
	// targetURL with credsURL's credentials.
	Aim func(t *testing.T, credsURL, targetURL string) string
}

// RunDriverContract runs the driver contract against subjects built by
// newSubject, one per subtest (the subtests run in parallel).
func RunDriverContract(t *testing.T, newSubject func(t *testing.T) Subject) {
	tests := []struct {
		name string
		run  func(t *testing.T, s Subject)
	}{
		{"CreateGivesAWorkingDatabase", testCreate},
		{"CreateTwiceFindsTheSameDatabase", testCreateTwice},
		{"CredentialsDoNotOpenAnotherCustomersDatabase", testCrossConnect},
		{"CustomersDoNotSeeEachOthersData", testIsolation},
		{"DeleteRemovesDatabaseRoleAndSecret", testDelete},
		{"DeleteIsIdempotent", testDeleteTwice},
		{"ConcurrentCreatesMakeOneDatabase", testConcurrentCreate},
		{"CreateAfterDelete", testRecreate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, newSubject(t))
		})
	}
}

// customer returns a fresh customer id and deletes its database when the
// test ends.
func customer(t *testing.T, s Subject) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "cus_T" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := s.Driver.Delete(context.WithoutCancel(t.Context()), id); err != nil {
			t.Errorf("cleanup: delete %s: %v", id, err)
		}
	})
	return id
}

// create creates the customer's database and checks what Create reports.
func create(t *testing.T, s Subject, customerID string) app.Database {
	t.Helper()
	db, err := s.Driver.Create(t.Context(), customerID)
	if err != nil {
		t.Fatalf("Create(%s): %v", customerID, err)
	}
	want := app.Database{Name: names.Database(customerID), Ref: names.DatabaseRef(customerID)}
	if db != want {
		t.Fatalf("Create(%s) = %+v, want %+v", customerID, db, want)
	}
	return db
}

// aim is s.Aim or its default.
func aim(t *testing.T, s Subject, credsURL, targetURL string) string {
	t.Helper()
	if s.Aim != nil {
		return s.Aim(t, credsURL, targetURL)
	}
	u, err := url.Parse(targetURL)
	if err != nil {
		t.Fatal("stored URL does not parse")
	}
	return withDatabase(t, credsURL, strings.TrimPrefix(u.Path, "/"))
}

// storedURL returns the connection URL the driver stored for db.
func storedURL(t *testing.T, s Subject, db app.Database) string {
	t.Helper()
	u, err := s.Secrets.Get(t.Context(), db.Ref)
	if err != nil {
		t.Fatalf("stored URL of %s: %v", db.Name, err)
	}
	return string(u)
}

// connect opens a connection with connURL; the test closes it at its end.
func connect(t *testing.T, connURL string) *pgx.Conn {
	t.Helper()
	conn, err := tryConnect(t, connURL)
	if err != nil {
		t.Fatalf("connect: %v", err) // pgconn never quotes the password
	}
	t.Cleanup(func() { conn.Close(context.Background()) }) //nolint:errcheck
	return conn
}

func tryConnect(t *testing.T, connURL string) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return pgx.Connect(ctx, connURL)
}

// withDatabase returns connURL naming database instead.
func withDatabase(t *testing.T, connURL, database string) string {
	t.Helper()
	u, err := url.Parse(connURL)
	if err != nil {
		t.Fatal("stored URL does not parse")
	}
	u.Path = "/" + database
	return u.String()
}

// sqlState returns the SQLSTATE in err's chain, or "".
func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// notFound reports whether err says the secret is missing.
func notFound(err error) bool { return errors.Is(err, secrets.ErrNotFound) }

// checkSchema checks that conn sees the customer schema and can use it.
func checkSchema(t *testing.T, conn *pgx.Conn) {
	t.Helper()
	ctx := t.Context()
	for _, table := range []string{"workspace_files", "api_keys"} {
		var found *string
		if err := conn.QueryRow(ctx, "SELECT to_regclass($1)::text", table).Scan(&found); err != nil {
			t.Fatalf("look for table %s: %v", table, err)
		}
		if found == nil {
			t.Fatalf("table %s is missing from the customer database", table)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO workspace_files (path, content) VALUES ('contract/probe.md', 'x')
		ON CONFLICT (path) DO UPDATE SET content = excluded.content`); err != nil {
		t.Fatalf("the customer cannot write its own workspace_files: %v", err)
	}
}

// putFile writes a workspace file through conn.
func putFile(t *testing.T, conn *pgx.Conn, path, content string) {
	t.Helper()
	_, err := conn.Exec(t.Context(), `INSERT INTO workspace_files (path, content) VALUES ($1, $2)
		ON CONFLICT (path) DO UPDATE SET content = excluded.content`, path, content)
	if err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
}

// files lists the workspace file paths conn sees.
func files(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(t.Context(), "SELECT path FROM workspace_files ORDER BY path")
	if err != nil {
		t.Fatalf("list workspace_files: %v", err)
	}
	paths, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list workspace_files: %v", err)
	}
	return paths
}

// refused reports whether a connection error is an authorization refusal
// (permission denied for the database, or failed authentication), as
// opposed to the database being missing or unreachable.
func refused(err error) bool {
	code := sqlState(err)
	return code == "42501" || strings.HasPrefix(code, "28")
}
