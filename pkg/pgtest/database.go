package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// NewDatabase creates an empty database on the test binary's server, named
// after the test plus a random suffix, and returns a superuser URL for it.
// The database is dropped, disconnecting whoever still uses it, when the test
// and its subtests end. Tests may call it in parallel.
func NewDatabase(t testing.TB) string {
	t.Helper()
	s := get(t)
	name := databaseName(t.Name())
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	u, err := withDatabase(s.url, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return u
}

// NewPool returns a pool connected to a fresh database (see NewDatabase).
// The pool is closed, then the database dropped, when the test ends.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return newPool(t, NewDatabase(t))
}

// AdminPool returns a new pool of superuser connections to the server's
// postgres database, closed when the test ends; for tests that create
// databases or roles themselves.
func AdminPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return newPool(t, AdminURL(t))
}

func newPool(t testing.TB, connURL string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(connURL)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return newPoolWith(t, cfg)
}

// newPoolWith opens a pool with cfg, closed when the test ends.
func newPoolWith(t testing.TB, cfg *pgxpool.Config) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: pool: %v", err)
	}
	t.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		t.Fatalf("pgtest: ping: %v", err)
	}
	return pool
}

// databaseName makes a valid, unique, lower-case identifier of at most 63
// bytes from a test name such as "TestSignup/card_declined".
func databaseName(testName string) string {
	var b strings.Builder
	b.WriteString("t_")
	underscore := true
	for _, r := range strings.ToLower(testName) {
		if b.Len() >= 44 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			underscore = false
		} else if !underscore {
			b.WriteByte('_')
			underscore = true
		}
	}
	if !underscore {
		b.WriteByte('_')
	}
	suffix := make([]byte, 6)
	_, _ = rand.Read(suffix) // never fails (crypto/rand documents so)
	b.WriteString(hex.EncodeToString(suffix))
	return b.String()
}

// withDatabase returns connURL with its database replaced by name.
func withDatabase(connURL, name string) (string, error) {
	// The errors leave the URL out: it holds a password.
	u, err := url.Parse(connURL)
	if err != nil {
		return "", errors.New("server URL does not parse as a URL")
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return "", fmt.Errorf("server URL has scheme %q, want postgres://", u.Scheme)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}
