package runtime

import (
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/plans"
)

// TestSequentialWorkOpensOneBackend: an instance's start (the schema check,
// then the plan) and queries one after another share one connection. With
// the idle timer armed from pgxpool's AfterRelease hook, pgxpool returned a
// released connection to the pool on a goroutine of its own, so the next
// acquire often found none idle and opened another backend: two per
// instance start, counted on the bench.
// And the idle timer still closes the connection, and the next query opens
// one again.
func TestSequentialWorkOpensOneBackend(t *testing.T) {
	db, err := openDB(t.Context(), pgtest.NewDatabase(t), Options{DBIdle: 200 * time.Millisecond}, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.close()
	pool := db.pool
	plan, err := plans.Lookup(plans.Starter)
	if err != nil {
		t.Fatal(err)
	}
	if err := customerdb.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	if err := customerdb.EnsurePlan(t.Context(), pool, plan); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, err := pool.Exec(t.Context(), "SELECT 1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := pool.Stat().NewConnsCount(); n != 1 {
		t.Fatalf("the start and 50 queries one after another opened %d connections, want 1", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for pool.Stat().TotalConns() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle connection was not closed within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := pool.Exec(t.Context(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	if n := pool.Stat().NewConnsCount(); n != 2 {
		t.Fatalf("connections opened after the idle close = %d, want 2", n)
	}
}
