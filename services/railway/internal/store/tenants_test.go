package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/services/railway/internal/store"
)

// TestUIDs: each customer holds its own uid of the range, the same one on
// every call and after a reopen, concurrent allocations never share one, a
// full range fails with ErrNoFreeUID, and a freed uid is given out again.
func TestUIDs(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	st, err := store.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	const lo, hi = 200000, 200019
	got := make([]int, 20)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range got {
		wg.Go(func() {
			uid, err := st.UID(ctx, fmt.Sprintf("cus_%d", i), lo, hi)
			if err != nil {
				errs <- err
			}
			got[i] = uid
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, uid := range got {
		if uid < lo || uid > hi || seen[uid] {
			t.Fatalf("uids %v: %d is out of range or shared", got, uid)
		}
		seen[uid] = true
	}
	if _, err := st.UID(ctx, "cus_late", lo, hi); !errors.Is(err, store.ErrNoFreeUID) {
		t.Fatalf("UID on a full range = %v, want ErrNoFreeUID", err)
	}
	reopened, err := store.Open(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if uid, err := reopened.UID(ctx, "cus_7", lo, hi); err != nil || uid != got[7] {
		t.Fatalf("UID after reopen = %d, %v; want %d", uid, err, got[7])
	}
	if err := st.FreeUID(ctx, "cus_7"); err != nil {
		t.Fatal(err)
	}
	if err := st.FreeUID(ctx, "cus_unknown"); err != nil {
		t.Fatal(err)
	}
	if uid, err := st.UID(ctx, "cus_late", lo, hi); err != nil || uid != got[7] {
		t.Fatalf("UID after a free = %d, %v; want the freed %d", uid, err, got[7])
	}
}
