package store_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/railway/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var quiet = slog.New(slog.DiscardHandler)

func instance(customer string, port int) store.Instance {
	return store.Instance{CustomerID: customer, ServiceName: "claw-" + customer, Port: port, Plan: "starter",
		DatabaseRef: "db/" + customer, VCPUs: 0.5, MemoryMB: 512}
}

func TestPortsAndTombstones(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	st, err := store.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(ctx, pool); err != nil {
		t.Fatalf("second Open: %v", err)
	}
	if err := st.Put(ctx, instance("cus_a", 40001)); err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, instance("cus_b", 40001)); !errors.Is(err, store.ErrPortTaken) {
		t.Fatalf("Put on a running instance's port = %v, want ErrPortTaken", err)
	}
	if err := st.Started(ctx, "cus_a", 4242, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := st.Exited(ctx, "cus_a", true); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkDeleted(ctx, "cus_a"); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkDeleted(ctx, "cus_unknown"); err != nil {
		t.Fatalf("MarkDeleted of an unknown customer: %v", err)
	}
	// A tombstone frees its port and comes back to life with no restarts.
	if err := st.Put(ctx, instance("cus_b", 40001)); err != nil {
		t.Fatalf("Put on a deleted instance's port: %v", err)
	}
	a, err := st.Get(ctx, "cus_a")
	if err != nil {
		t.Fatal(err)
	}
	if a.Desired != store.Deleted || a.PID != 0 || a.Restarts != 1 {
		t.Errorf("deleted row = %+v", a)
	}
	if err := st.Put(ctx, instance("cus_a", 40002)); err != nil {
		t.Fatal(err)
	}
	if a, _ = st.Get(ctx, "cus_a"); a.Desired != store.Running || a.Restarts != 0 || a.Port != 40002 {
		t.Errorf("revived row = %+v", a)
	}
	active, err := st.Active(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(active) != 2 {
		t.Errorf("Active = %+v, want both instances", active)
	}
	if _, err := st.Get(ctx, "cus_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get of an unknown customer = %v, want ErrNotFound", err)
	}
}

func TestLockIsExclusive(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	release, err := st.Lock(ctx, quiet)
	if err != nil {
		t.Fatal(err)
	}
	waiting, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	if _, err := st.Lock(waiting, quiet); err == nil {
		t.Fatal("a second owner got the lock")
	}
	release()
	again, err := st.Lock(ctx, quiet)
	if err != nil {
		t.Fatalf("Lock after release: %v", err)
	}
	again()
}

func TestDeletedSagaJournal(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, pgtest.NewPool(t))
	if err != nil {
		t.Fatal(err)
	}
	if gone, err := st.SagaDeleted(ctx, "signup-cs_1"); err != nil || gone {
		t.Fatalf("SagaDeleted before = %v, %v", gone, err)
	}
	for range 2 { // idempotent
		if err := st.MarkSagaDeleted(ctx, "signup-cs_1"); err != nil {
			t.Fatal(err)
		}
	}
	if gone, err := st.SagaDeleted(ctx, "signup-cs_1"); err != nil || !gone {
		t.Fatalf("SagaDeleted after = %v, %v", gone, err)
	}
	if gone, _ := st.SagaDeleted(ctx, "signup-cs_2"); gone {
		t.Error("another saga counts as deleted")
	}
}

// An owner whose lock session ends (a Postgres restart, a killed backend)
// hears of it: its context ends with ErrLockLost, and the lock is free for
// a standby.
func TestLockWatchedNoticesALostSession(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	st, err := store.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	owned, release, err := st.LockWatched(ctx, quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	// End the lock's session from outside, as a server restart does.
	if _, err := pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((classid::bigint << 32) | objid::bigint) = $1`, int64(0x7261696c776179)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-owned.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the owner did not notice its lock was lost")
	}
	if !errors.Is(context.Cause(owned), store.ErrLockLost) {
		t.Errorf("cause = %v, want ErrLockLost", context.Cause(owned))
	}
	standby, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	again, err := st.Lock(standby, quiet)
	if err != nil {
		t.Fatalf("a standby could not take the freed lock: %v", err)
	}
	again()
}
