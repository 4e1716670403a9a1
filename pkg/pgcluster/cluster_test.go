package pgcluster

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// clusterDir returns a path for a cluster under a fresh directory of
// os.TempDir. It is not under t.TempDir: as root, that one's 0700 parent
// keeps user postgres out.
func clusterDir(t *testing.T) string {
	t.Helper()
	parent, err := os.MkdirTemp("", "pgcluster-test-")
	if err != nil {
		t.Fatal(err)
	}
	// MkdirTemp makes it 0700; let user postgres through.
	if err := os.Chmod(parent, 0o711); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := os.RemoveAll(parent); err != nil {
			t.Errorf("remove %s: %v", parent, err)
		}
	})
	// The nested, not yet existing directory exercises the creation of parents.
	return filepath.Join(parent, "nested", "cluster")
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func start(t *testing.T, dir string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, dir, testLogger(t), WithoutDurability())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

func execSQL(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryInt(t *testing.T, url, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func withDB(adminURL, db string) string {
	return strings.Replace(adminURL, "/postgres?", "/"+db+"?", 1)
}

func TestStartRestartKeepsData(t *testing.T) {
	dir := clusterDir(t)
	c := start(t, dir)

	if !strings.HasPrefix(c.AdminURL(), "postgres://postgres:") || !strings.HasSuffix(c.AdminURL(),
		fmt.Sprintf("@127.0.0.1:%d/postgres?sslmode=disable", c.Port())) {
		t.Fatalf("AdminURL = %q", c.AdminURL())
	}
	if fi, err := os.Stat(filepath.Join(dir, passwordFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v, %v", fi, err)
	}
	execSQL(t, c.AdminURL(), "CREATE DATABASE keep")
	execSQL(t, withDB(c.AdminURL(), "keep"), "CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)")

	firstURL := c.AdminURL()
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}

	again := start(t, dir)
	if again.AdminURL() != firstURL {
		t.Errorf("restart changed the URL (password or free port): %q, was %q", again.AdminURL(), firstURL)
	}
	if n := queryInt(t, withDB(again.AdminURL(), "keep"), "SELECT sum(n) FROM t"); n != 3 {
		t.Errorf("sum after restart = %d, want 3", n)
	}
}

func TestWrongPasswordRefused(t *testing.T) {
	c := start(t, clusterDir(t))
	bad := strings.Replace(c.AdminURL(), c.password, "wrong", 1)
	conn, err := pgx.Connect(t.Context(), bad)
	if err == nil {
		conn.Close(context.Background())
		t.Fatal("connected with a wrong password")
	}
}

func TestStartStopsLeftoverServer(t *testing.T) {
	dir := clusterDir(t)
	// The first cluster is abandoned, as if its process had been killed.
	first := start(t, dir)
	execSQL(t, first.AdminURL(), "CREATE DATABASE survivor")

	second := start(t, dir)
	if n := queryInt(t, second.AdminURL(), "SELECT count(*) FROM pg_database WHERE datname = 'survivor'"); n != 1 {
		t.Errorf("database survivor missing after takeover")
	}
}

func TestStartRemovesStalePidFile(t *testing.T) {
	dir := clusterDir(t)
	c := start(t, dir)
	if err := c.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	// A crash leaves postmaster.pid behind, and its pid may since belong to
	// another program: here, this test binary.
	pidFile := filepath.Join(dir, dataSubdir, "postmaster.pid")
	stale := strconv.Itoa(os.Getpid()) + "\n" + filepath.Join(dir, dataSubdir) + "\n"
	if err := os.WriteFile(pidFile, []byte(stale), 0o600); err != nil {
		t.Fatal(err)
	}
	again := start(t, dir)
	if n := queryInt(t, again.AdminURL(), "SELECT 1"); n != 1 {
		t.Fatal("no answer after stale pid file")
	}
}

func TestStopDir(t *testing.T) {
	dir := clusterDir(t)
	c := start(t, dir)
	if err := StopDir(t.Context(), dir, testLogger(t)); err != nil {
		t.Fatalf("StopDir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, dataSubdir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("server still running after StopDir: %v", err)
	}
	if err := StopDir(t.Context(), dir, testLogger(t)); err != nil {
		t.Fatalf("StopDir on a stopped cluster: %v", err)
	}
	if err := c.Stop(t.Context()); err != nil {
		t.Fatalf("Stop after StopDir: %v", err)
	}
}
