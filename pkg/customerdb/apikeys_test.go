package customerdb

import (
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
