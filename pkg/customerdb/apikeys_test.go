package customerdb

import (
	"errors"
	"testing"

	"clawdbot.cloud/pkg/apikey"
)

func newKey(t *testing.T) (hash []byte, prefix string) {
	t.Helper()
	k, err := apikey.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return apikey.Hash(k), apikey.Prefix(k)
}

func check(t *testing.T, db DB, hash []byte) bool {
	t.Helper()
	ok, err := CheckAPIKey(t.Context(), db, hash)
	if err != nil {
		t.Fatalf("CheckAPIKey: %v", err)
	}
	return ok
}

func TestAPIKeys(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	h1, p1 := newKey(t)
	h2, _ := newKey(t)

	if check(t, pool, h1) {
		t.Fatal("unknown key accepted")
	}
	for range 2 { // the second add is a replay
		if err := AddAPIKey(ctx, pool, h1, p1); err != nil {
			t.Fatalf("AddAPIKey: %v", err)
		}
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM api_keys").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("api_keys holds %d rows after adding one key twice", n)
	}
	if !check(t, pool, h1) {
		t.Error("added key rejected")
	}
	if check(t, pool, h2) {
		t.Error("other key accepted")
	}

	if err := RevokeAPIKeys(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if check(t, pool, h1) {
		t.Error("revoked key accepted")
	}
	// A replayed add must not resurrect a revoked key.
	if err := AddAPIKey(ctx, pool, h1, p1); err != nil {
		t.Fatal(err)
	}
	if check(t, pool, h1) {
		t.Error("re-adding a revoked key made it active")
	}
	// A new key after revocation (rotation) works.
	if err := AddAPIKey(ctx, pool, h2, "claw_new"); err != nil {
		t.Fatal(err)
	}
	if !check(t, pool, h2) {
		t.Error("key added after revocation rejected")
	}
}

func TestAPIKeyHashLength(t *testing.T) {
	pool := migrated(t)
	if err := AddAPIKey(t.Context(), pool, []byte("short"), "claw_x"); err == nil {
		t.Error("AddAPIKey accepted a 5-byte hash")
	}
	if check(t, pool, nil) || check(t, pool, []byte("short")) {
		t.Error("CheckAPIKey accepted a malformed hash")
	}
}

func TestManagedAPIKeys(t *testing.T) {
	ctx := t.Context()
	pool := migrated(t)
	h1, p1 := newKey(t)
	k1, err := CreateAPIKey(ctx, pool, h1, p1, "laptop")
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if k1.ID == 0 || k1.Name != "laptop" || k1.Prefix != p1 || k1.LastUsedAt != nil || k1.RevokedAt != nil {
		t.Fatalf("created key = %+v", k1)
	}
	if !check(t, pool, h1) {
		t.Fatal("created key rejected")
	}
	keys, err := ListAPIKeys(ctx, pool)
	if err != nil || len(keys) != 1 || keys[0].LastUsedAt == nil {
		t.Fatalf("ListAPIKeys = %+v, %v; want one key with last_used_at set by the check", keys, err)
	}
	// A second check within the minute does not write again.
	first := *keys[0].LastUsedAt
	check(t, pool, h1)
	keys, _ = ListAPIKeys(ctx, pool)
	if !keys[0].LastUsedAt.Equal(first) {
		t.Errorf("last_used_at rewritten within the minute: %v → %v", first, keys[0].LastUsedAt)
	}

	ok, err := RevokeAPIKey(ctx, pool, k1.ID)
	if err != nil || !ok {
		t.Fatalf("RevokeAPIKey = %v, %v", ok, err)
	}
	if check(t, pool, h1) {
		t.Fatal("revoked key accepted")
	}
	if ok, _ := RevokeAPIKey(ctx, pool, k1.ID+1000); ok {
		t.Fatal("revoking an unknown id reported a key")
	}

	// The active-key limit holds under concurrent creates.
	errs := make(chan error, MaxActiveAPIKeys+5)
	for range MaxActiveAPIKeys + 5 {
		go func() {
			h, p := newKey(t)
			_, err := CreateAPIKey(ctx, pool, h, p, "")
			errs <- err
		}()
	}
	refused := 0
	for range MaxActiveAPIKeys + 5 {
		if err := <-errs; errors.Is(err, ErrTooManyKeys) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if refused != 5 {
		t.Fatalf("%d creates refused, want 5 (limit %d)", refused, MaxActiveAPIKeys)
	}
}
