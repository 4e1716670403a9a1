package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/neon/internal/app"
)

// newCustomer returns a fresh customer id whose database f deletes when the
// test ends.
func (f *fixture) newCustomer(t *testing.T) string {
	t.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "cus_P" + hex.EncodeToString(b)
	t.Cleanup(func() {
		if err := f.driver.Delete(context.WithoutCancel(t.Context()), id); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return id
}

func (f *fixture) create(t *testing.T, customerID string) app.Database {
	t.Helper()
	db, err := f.driver.Create(t.Context(), customerID)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return db
}

func (f *fixture) url(t *testing.T, db app.Database) string {
	t.Helper()
	u, err := f.secrets.Get(t.Context(), db.Ref)
	if err != nil {
		t.Fatal(err)
	}
	return string(u)
}

// connect opens connURL, closed when the test ends.
func connect(t *testing.T, connURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) }) //nolint:errcheck
	return conn
}

// adminConn opens a superuser connection to database.
func adminConn(t *testing.T, database string) *pgx.Conn {
	t.Helper()
	return connect(t, withDatabase(t, pgtest.AdminURL(t), database))
}

func withDatabase(t *testing.T, connURL, database string) string {
	t.Helper()
	u, err := url.Parse(connURL)
	if err != nil {
		t.Fatal("URL does not parse")
	}
	u.Path = "/" + database
	return u.String()
}

func sqlState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// connectErr returns the error of connecting with connURL (nil: it connected).
func connectErr(t *testing.T, connURL string) error {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connURL)
	if err == nil {
		conn.Close(t.Context()) //nolint:errcheck
	}
	return err
}
