package alert

import (
	"sync"
	"time"
)

// Limiter is a token bucket on an explicit clock: burst alerts at once,
// then one per interval.
type Limiter struct {
	mu       sync.Mutex
	burst    float64
	interval time.Duration
	tokens   float64
	last     time.Time
}

// NewLimiter returns a full bucket of burst tokens refilled one per interval.
func NewLimiter(burst int, interval time.Duration) *Limiter {
	return &Limiter{burst: float64(max(burst, 1)), interval: interval, tokens: float64(max(burst, 1))}
}

// Allow takes a token at now if there is one.
func (l *Limiter) Allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.After(l.last) && l.interval > 0 {
		l.tokens = min(l.burst, l.tokens+float64(now.Sub(l.last))/float64(l.interval))
	}
	if l.last.IsZero() || now.After(l.last) {
		l.last = now
	}
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}
