package auth

import (
	"container/list"
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

// Defaults of NegativeCache: 10,000 hashes of ~100 bytes each bound it to
// about a megabyte; a minute keeps a key created after someone guessed it
// (no one guesses a 256-bit key) refused for at most that long.
const (
	// DefaultNegativeEntries is how many unknown hashes are remembered.
	DefaultNegativeEntries = 10_000
	// DefaultNegativeTTL is how long an unknown hash is remembered.
	DefaultNegativeTTL = time.Minute
)

// NegativeCache wraps check with a bounded memory of hashes it reported
// unknown: a flood of made-up keys costs at most one query per distinct key
// per ttl, and at most size entries (the least recently refused go first).
// A known key is never cached, so a revocation applies on the very next
// request; an error is not cached either.
func NegativeCache(check KeyChecker, size int, ttl time.Duration, now func() time.Time) KeyChecker {
	if now == nil {
		now = time.Now
	}
	c := &negCache{size: max(size, 1), ttl: ttl, now: now, lru: list.New(), byHash: map[[sha256.Size]byte]*list.Element{}}
	return func(ctx context.Context, hash []byte) (bool, error) {
		if len(hash) != sha256.Size {
			return check(ctx, hash)
		}
		h := [sha256.Size]byte(hash)
		if c.unknown(h) {
			return false, nil
		}
		ok, err := check(ctx, hash)
		if err == nil && !ok {
			c.add(h)
		}
		return ok, err
	}
}

// negCache is an LRU of hashes with the time each was found unknown.
type negCache struct {
	mu     sync.Mutex
	size   int
	ttl    time.Duration
	now    func() time.Time
	lru    *list.List // of negEntry, most recent first
	byHash map[[sha256.Size]byte]*list.Element
}

type negEntry struct {
	hash [sha256.Size]byte
	at   time.Time
}

// unknown reports whether h was found unknown within the ttl.
func (c *negCache) unknown(h [sha256.Size]byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byHash[h]
	if !ok {
		return false
	}
	if c.now().Sub(e.Value.(negEntry).at) >= c.ttl {
		c.lru.Remove(e)
		delete(c.byHash, h)
		return false
	}
	c.lru.MoveToFront(e)
	return true
}

// add remembers h as unknown now, evicting the least recent past size.
func (c *negCache) add(h [sha256.Size]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byHash[h]; ok {
		e.Value = negEntry{hash: h, at: c.now()}
		c.lru.MoveToFront(e)
		return
	}
	c.byHash[h] = c.lru.PushFront(negEntry{hash: h, at: c.now()})
	for c.lru.Len() > c.size {
		last := c.lru.Back()
		c.lru.Remove(last)
		delete(c.byHash, last.Value.(negEntry).hash)
	}
}
