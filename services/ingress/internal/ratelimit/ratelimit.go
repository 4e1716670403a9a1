// Package ratelimit keeps a token bucket per client address for the
// ingress's public endpoints, in bounded memory: at most a configured number
// of clients are tracked, and the least recently seen is forgotten first
// (its bucket was the likeliest to be full again anyway).
//
// Forgetting is the price of the bound: a caller who spreads requests over
// more addresses than the limiter tracks can push an honest client out and
// so refill its bucket early. That only ever errs towards letting requests
// through; memory never grows.
package ratelimit

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is one limit (N requests per period, bursts of N) applied per
// client. It is safe for concurrent use.
type Limiter struct {
	every   rate.Limit
	burst   int
	max     int
	now     func() time.Time
	mu      sync.Mutex
	lru     *list.List // of *client, most recently seen first
	clients map[string]*list.Element
}

// client is one tracked address and its bucket.
type client struct {
	key    string
	bucket *rate.Limiter
}

// New returns a Limiter that lets each client make n requests per period
// (refilled evenly, bursts of n) and tracks at most maxClients clients.
// now is its clock (time.Now when nil).
func New(n int, per time.Duration, maxClients int, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{
		every: rate.Every(per / time.Duration(n)), burst: n, max: maxClients, now: now,
		lru: list.New(), clients: make(map[string]*list.Element),
	}
}

// Allow takes a token of key's bucket. When none is left it takes nothing
// and returns how long until one is.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var c *client
	if e, found := l.clients[key]; found {
		l.lru.MoveToFront(e)
		c = e.Value.(*client)
	} else {
		if l.lru.Len() >= l.max {
			oldest := l.lru.Back()
			l.lru.Remove(oldest)
			delete(l.clients, oldest.Value.(*client).key)
		}
		c = &client{key: key, bucket: rate.NewLimiter(l.every, l.burst)}
		l.clients[key] = l.lru.PushFront(c)
	}
	r := c.bucket.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is the number of clients tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// RetryAfterSeconds renders d as a Retry-After value: whole seconds,
// rounded up, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
