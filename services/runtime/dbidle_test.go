package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
)

// TestIdleInstanceReleasesItsDatabaseConnection: an instance nobody uses
// holds no backend on the customers' server once DBIdle has passed, and
// the next request opens one again (density: thousands of idle instances
// must not pin a backend each).
func TestIdleInstanceReleasesItsDatabaseConnection(t *testing.T) {
	// DBHealthMaxAge 1ns: every probe asks the database, so each round
	// opens a backend again.
	in := startInstance(t, "cus_IDLE", "starter", withOptions(runtime.Options{DBIdle: 300 * time.Millisecond, DBHealthMaxAge: time.Nanosecond}))
	backends := func() int { return backendsOf(t, in) }
	var token string
	for round := range 2 {
		health(t, in.url, http.StatusOK) // pings the database
		if n := backends(); n == 0 {
			t.Fatalf("round %d: no backend right after /health", round)
		}
		waitNoBackend(t, backends)
		// Closing idle connections is housekeeping: the activity token
		// (which makes the health service read /status) stays put.
		if now := activityToken(t, in.url); token != "" && now != token {
			t.Fatalf("round %d: closing idle connections moved the activity token %q → %q", round, token, now)
		} else {
			token = now
		}
	}
	// And the instance's own work after that still takes a connection.
	key := in.addKey(t)
	in.call(t, http.MethodPost, "/api/memory", key, map[string]any{"content": "prefers tea"}, http.StatusCreated, nil)
	if activityToken(t, in.url) == token {
		t.Fatal("a memory written did not move the token")
	}
	waitNoBackend(t, backends)
}

func activityToken(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct {
		Activity string `json:"activity"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Activity
}

// TestHealthProbeOfIdleInstanceStartsNoBackend: a probe of an idle instance
// whose database answered recently opens no connection (the health service
// probes every instance every 30 s; a backend each time is ~30 ms of the
// customers' server's CPU), and a database that stopped taking connections
// is still reported once the last answer is older than DBHealthMaxAge.
func TestHealthProbeOfIdleInstanceStartsNoBackend(t *testing.T) {
	// Long enough that the probes below come before the last answer is
	// stale even on a loaded machine.
	const maxAge = 10 * time.Second
	in := startInstance(t, "cus_IDLEPROBE", "starter", withOptions(runtime.Options{DBIdle: 200 * time.Millisecond, DBHealthMaxAge: maxAge}))
	var db string
	if err := in.pool.QueryRow(t.Context(), `SELECT current_database()`).Scan(&db); err != nil {
		t.Fatal(err)
	}
	backends := func() int { return backendsOf(t, in) }
	waitNoBackend(t, backends)
	for range 5 {
		health(t, in.url, http.StatusOK)
		if n := backends(); n > 0 {
			t.Fatalf("a probe of the idle instance opened %d backends", n)
		}
	}

	// The database stops taking connections: the instance's idle pool has
	// none, so once its last answer is older than maxAge the probe asks,
	// cannot connect, and says so.
	// (ALTER DATABASE cannot run in the database it changes.)
	other := in.pool.Config().ConnConfig.Copy()
	other.Database = "postgres"
	admin, err := pgx.ConnectConfig(t.Context(), other)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close(context.Background()) })
	allow := func(ctx context.Context, on bool) error {
		_, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s ALLOW_CONNECTIONS %t`, pgx.Identifier{db}.Sanitize(), on))
		return err
	}
	if err := allow(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = allow(context.Background(), true) })
	health(t, in.url, http.StatusOK) // the last answer is still fresh
	time.Sleep(maxAge)
	health(t, in.url, http.StatusServiceUnavailable)
	if err := allow(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	health(t, in.url, http.StatusOK)
}

func health(t *testing.T, url string, want int) {
	t.Helper()
	resp, err := http.Get(url + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("/health = %d, want %d", resp.StatusCode, want)
	}
}

// waitNoBackend waits until the instance has closed its idle connections.
func waitNoBackend(t *testing.T, backends func() int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for backends() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the idle instance still holds %d backends after 10s", backends())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// backendsOf counts the backends the instance holds on its database (all
// but the test's own).
func backendsOf(t *testing.T, in *instance) int {
	t.Helper()
	var n int
	if err := in.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestActivityTokenMovesOnlyWithWork: /health and /status carry a token
// that the platform's own reads (/health, /status with the instance token)
// do not move and the instance's work (a memory written with the
// customer's key) does, so the health service re-reads /status — a
// backend — only for instances that did something.
func TestActivityTokenMovesOnlyWithWork(t *testing.T) {
	in := startInstance(t, "cus_ACTIVITY", plans.Starter, withConfig(func(c *runtime.Config) { c.InstanceToken = instanceToken }))
	var h struct {
		Activity string `json:"activity"`
	}
	probe := func() string {
		t.Helper()
		in.call(t, http.MethodGet, "/health", "", nil, http.StatusOK, &h)
		return h.Activity
	}
	var st struct {
		Activity string `json:"activity"`
	}
	read := func() string {
		t.Helper()
		in.call(t, http.MethodGet, "/status", instanceToken, nil, http.StatusOK, &st)
		return st.Activity
	}
	first := probe()
	if first == "" {
		t.Fatal("/health carries no activity token")
	}
	for range 3 {
		if s, p := read(), probe(); s != first || p != first {
			t.Fatalf("the platform's reads moved the token: %q → /status %q, /health %q", first, s, p)
		}
	}
	key := in.addKey(t)
	in.call(t, http.MethodPost, "/api/memory", key, map[string]any{"content": "prefers tea"}, http.StatusCreated, nil)
	moved := probe()
	if moved == first {
		t.Fatalf("a memory written did not move the token (%q)", moved)
	}
	if s := read(); s != moved {
		t.Fatalf("/status after the work = %q, /health = %q", s, moved)
	}
}
