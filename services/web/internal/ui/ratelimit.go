package ui

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter keeps one token bucket per key (a client address, an email),
// forgetting keys idle for a while so hostile traffic cannot grow it
// without bound: at most maxKeys are kept, the oldest dropped first.
type limiter struct {
	mu      sync.Mutex
	every   rate.Limit
	burst   int
	buckets map[string]*bucket
	maxKeys int
}

type bucket struct {
	l    *rate.Limiter
	seen time.Time
}

func newLimiter(per time.Duration, burst int) *limiter {
	return &limiter{every: rate.Every(per), burst: burst, buckets: map[string]*bucket{}, maxKeys: 100_000}
}

// allow takes a token for key; when none is left it reports how long until
// one is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.evict(now)
		}
		b = &bucket{l: rate.NewLimiter(l.every, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.l.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evict drops buckets idle for an hour, or half of them when none is.
func (l *limiter) evict(now time.Time) {
	n := 0
	for k, b := range l.buckets {
		if now.Sub(b.seen) > time.Hour || n%2 == 0 {
			delete(l.buckets, k)
		}
		n++
	}
}
