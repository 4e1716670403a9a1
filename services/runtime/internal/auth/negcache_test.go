package auth

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"
)

// TestNegativeCacheBoundAndTTL: the cache holds at most size hashes (the
// least recently refused go first) and forgets one after ttl; known keys
// and errors are never cached.
func TestNegativeCacheBoundAndTTL(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	calls := map[byte]int{}
	known := byte(9)
	check := NegativeCache(func(_ context.Context, h []byte) (bool, error) {
		calls[h[0]]++
		return h[0] == known, nil
	}, 2, time.Minute, func() time.Time { return now })
	ask := func(b byte) {
		t.Helper()
		h := make([]byte, sha256.Size)
		h[0] = b
		if _, err := check(t.Context(), h); err != nil {
			t.Fatal(err)
		}
	}
	ask(1)
	ask(2)
	ask(1) // cached; 1 is now the most recent
	ask(3) // evicts 2
	ask(1)
	ask(2) // evicted: asked again
	if calls[1] != 1 || calls[2] != 2 || calls[3] != 1 {
		t.Errorf("checks per key = %v; want 1:1 2:2 3:1", calls)
	}
	now = now.Add(time.Minute)
	ask(2) // expired
	if calls[2] != 3 {
		t.Errorf("an expired entry was not checked again: %v", calls)
	}
	ask(known)
	ask(known)
	if calls[known] != 2 {
		t.Errorf("a known key was cached: %v", calls)
	}
}
