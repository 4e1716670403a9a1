package expiry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/services/ingress/internal/expiry"
	"clawdbot.cloud/services/ingress/internal/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// ready records a signup of cs that became ready at, with its key stored.
func ready(t *testing.T, st *store.Store, sec *secrets.Store, cs string, at time.Time) string {
	t.Helper()
	ctx := context.Background()
	saga := names.SignupSagaID(cs)
	ref := names.APIKeyRevealRef(saga)
	if err := st.RecordSignup(ctx, store.Signup{CheckoutSessionID: cs, SagaID: saga, CustomerID: "cus_" + cs[3:], Plan: "pro"}); err != nil {
		t.Fatal(err)
	}
	if err := sec.Put(ctx, ref, []byte("claw_"+cs)); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(ctx, store.Progress{CheckoutSessionID: cs, SagaID: saga, Status: store.StatusReady, At: at, APIKeyRef: ref}); err != nil {
		t.Fatal(err)
	}
	return ref
}

func TestSweepDeletesOnlyExpiredUnrevealedKeys(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewPool(t)
	st, err := store.Open(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	key, err := secrets.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := secrets.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := secrets.Open(ctx, db, raw)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	const ttl = 24 * time.Hour
	// More than a batch of stale keys, so the sweep must loop.
	var stale []string
	for i := range expiry.Batch + 30 {
		stale = append(stale, ready(t, st, sec, fmt.Sprintf("cs_test_stale%04d", i), now.Add(-ttl-time.Minute)))
	}
	fresh := ready(t, st, sec, "cs_test_fresh0001", now.Add(-ttl+time.Minute))
	revealed := ready(t, st, sec, "cs_test_shown0001", now.Add(-48*time.Hour))
	if err := st.MarkRevealed(ctx, "cs_test_shown0001"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sec.Reveal(ctx, revealed, time.Minute); err != nil {
		t.Fatal(err)
	}
	expired := 0
	s := &expiry.Sweeper{
		Store: st, Secrets: sec, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), TTL: ttl, Grace: time.Minute,
		Interval: time.Hour, Now: func() time.Time { return now }, Expired: func(n int) { expired += n },
	}
	n, err := s.Sweep(ctx)
	if err != nil || n != len(stale) || expired != len(stale) {
		t.Fatalf("Sweep = %d, %v (counted %d), want %d", n, err, expired, len(stale))
	}
	for _, ref := range stale {
		if _, err := sec.Get(ctx, ref); !errors.Is(err, secrets.ErrNotFound) {
			t.Fatalf("%s survived the sweep: %v", ref, err)
		}
	}
	for _, ref := range []string{fresh, revealed} {
		if _, err := sec.Get(ctx, ref); err != nil {
			t.Errorf("%s was deleted: %v", ref, err)
		}
	}
	p, err := st.Lookup(ctx, "cs_test_stale0000")
	if err != nil || !p.APIKeyExpired || p.ReadyAt.IsZero() {
		t.Fatalf("swept row %+v, %v", p, err)
	}
	if p, _ := st.Lookup(ctx, "cs_test_fresh0001"); p.APIKeyExpired {
		t.Error("the fresh key was marked expired")
	}
	// A second pass finds nothing.
	if n, err := s.Sweep(ctx); n != 0 || err != nil {
		t.Errorf("second sweep = %d, %v", n, err)
	}
	// Once its grace window has passed (moved back rather than waited
	// for), the revealed key is deleted too.
	if _, err := db.Exec(ctx, `UPDATE secrets.secrets SET taken_at = taken_at - interval '2 minutes'`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sec.Get(ctx, revealed); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("the revealed key survived its grace window: %v", err)
	}

	// Run sweeps at once and stops with its context.
	now = now.Add(2 * time.Minute)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(cctx); close(done) }()
	servicetest.Eventually(t, 10*time.Second, "Run to sweep at start", func() bool {
		_, err := sec.Get(ctx, fresh)
		return errors.Is(err, secrets.ErrNotFound)
	})
	cancel()
	<-done
}
