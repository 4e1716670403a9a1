package runtime_test

import (
	"net/http"
	"testing"
	"time"

	"clawdbot.cloud/services/runtime"
)

// TestIdleInstanceReleasesItsDatabaseConnection: an instance nobody uses
// holds no backend on the customers' server once DBIdle has passed, and
// the next request opens one again (density: thousands of idle instances
// must not pin a backend each).
func TestIdleInstanceReleasesItsDatabaseConnection(t *testing.T) {
	in := startInstance(t, "cus_IDLE", "starter", withOptions(runtime.Options{DBIdle: 300 * time.Millisecond}))
	backends := func() int {
		var n int
		if err := in.pool.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	health := func() {
		resp, err := http.Get(in.url + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/health = %d, want 200", resp.StatusCode)
		}
	}
	for round := range 2 {
		health() // pings the database
		if n := backends(); n == 0 {
			t.Fatalf("round %d: no backend right after /health", round)
		}
		deadline := time.Now().Add(10 * time.Second)
		for backends() > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: the idle instance still holds %d backends after 10s (DBIdle 300ms)", round, backends())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}
