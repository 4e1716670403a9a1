// Package pgtest is the PostgreSQL harness of every module's tests: one
// server per test binary, and a fresh database per test.
//
// The server comes from, in order:
//
//  1. the environment variable TEST_DATABASE_URL, a postgres:// URL of a
//     superuser on an existing server (used as is; if it does not answer,
//     tests fail rather than fall back, since it was asked for);
//  2. a private cluster started with pkg/pgcluster from the local PostgreSQL
//     binaries (Debian package postgresql-15) in a temporary directory;
//  3. a postgres:15 container through testcontainers-go, tried only when a
//     Docker engine answers.
//
// A test that gets no server fails; it is never skipped. A package whose
// tests use pgtest must call Main from its TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Main stops the server it started and removes its directory. Clusters of
// test binaries that were killed before Main could stop them (a test timeout,
// say) are stopped and removed by the next test binary that starts one.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// server is the PostgreSQL server of this test binary.
type server struct {
	url   string        // superuser URL, database postgres
	admin *pgxpool.Pool // on url; creates and drops test databases
	stop  func(context.Context) error
}

var (
	mainCalled atomic.Bool
	once       sync.Once

	mu     sync.Mutex // guards srv and srvErr
	srv    *server
	srvErr error
)

// logger reports what the harness does on stderr, warnings and errors only,
// so that passing test runs stay quiet.
var logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

// Main runs the tests of m, then stops the PostgreSQL server that the tests
// started, if any, and exits with the tests' code (or 1 if they passed but
// the server could not be stopped). Call it from TestMain. cleanups run
// after the tests, before the exit (a deferred call in TestMain would not).
func Main(m *testing.M, cleanups ...func()) {
	mainCalled.Store(true)
	code := m.Run()
	for _, c := range cleanups {
		c()
	}
	if err := shutdown(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

func shutdown() error {
	mu.Lock()
	defer mu.Unlock()
	if srv == nil {
		return nil
	}
	srv.admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := srv.stop(ctx)
	srv, srvErr = nil, errors.New("pgtest: the server was stopped by Main")
	return err
}

// AdminURL returns the URL of a superuser on the test binary's server,
// connected to its postgres database, starting the server on first use.
// Tests should rather work in a database of their own (NewDatabase).
func AdminURL(t testing.TB) string {
	t.Helper()
	return get(t).url
}

func get(t testing.TB) *server {
	t.Helper()
	if !mainCalled.Load() {
		t.Fatalf("pgtest: this package's TestMain must call pgtest.Main(m), which stops the PostgreSQL server after the tests")
	}
	once.Do(func() {
		s, err := setup()
		mu.Lock()
		srv, srvErr = s, err
		mu.Unlock()
	})
	mu.Lock()
	defer mu.Unlock()
	if srvErr != nil {
		t.Fatalf("pgtest: no PostgreSQL server for tests: %v", srvErr)
	}
	return srv
}
