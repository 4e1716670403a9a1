package railway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter keeps the driver's requests within Railway's per-second and
// per-hour limits. One Limiter is shared by every request of a driver, so
// concurrent provisionings (one per saga) draw on the same budget.
//
// Each limit is a token bucket sized so that no window of its length ever
// holds more than the limit: with burst b and refill r per window,
// b + r = limit. The burst is a tenth of the limit (at least 1), so a
// 10/s limit becomes 1 at once then one every 111 ms, and a 1,000/h limit
// 100 at once then one every 4 s. The hourly token is taken first and the
// per-second one at the moment the request may go, so a long hourly wait
// never releases a burst beyond the per-second limit.
//
// The limits are per token on Railway's side: replicas of the compute
// service sharing a token should each be given their share
// (RAILWAY_RATE_PER_SECOND, RAILWAY_RATE_PER_HOUR). A 429 is still honoured
// (see transport) should the budget be shared with something else.
type Limiter struct {
	clock   Clock
	maxWait time.Duration

	mu     sync.Mutex // makes reading the clock and reserving one step
	second *rate.Limiter
	hour   *rate.Limiter
}

// NewLimiter returns a limiter of perSecond and perHour requests. A wait
// longer than maxWait is not waited: Wait returns a *RateLimitedError
// instead, so a command is redelivered later rather than holding a
// consumer slot for minutes.
func NewLimiter(perSecond, perHour int, maxWait time.Duration, clock Clock) *Limiter {
	return &Limiter{
		clock:   clock,
		maxWait: maxWait,
		second:  bucket(perSecond, time.Second),
		hour:    bucket(perHour, time.Hour),
	}
}

// bucket is a token bucket that admits at most limit events in any window.
func bucket(limit int, window time.Duration) *rate.Limiter {
	limit = max(limit, 1)
	burst := max(limit/10, 1)
	refill := max(limit-burst, 1)
	return rate.NewLimiter(rate.Limit(float64(refill)/window.Seconds()), burst)
}

// Wait blocks until one request may be sent, on the limiter's clock.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := l.take(ctx, l.hour); err != nil {
		return err
	}
	return l.take(ctx, l.second)
}

// take reserves one token of b and waits for it.
func (l *Limiter) take(ctx context.Context, b *rate.Limiter) error {
	l.mu.Lock()
	now := l.clock.Now()
	r := b.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d > l.maxWait {
		r.CancelAt(now)
		l.mu.Unlock()
		return &RateLimitedError{RetryAfter: d, Reason: "client rate limit"}
	}
	l.mu.Unlock()
	if err := l.clock.Sleep(ctx, d); err != nil {
		l.mu.Lock()
		r.CancelAt(l.clock.Now())
		l.mu.Unlock()
		return err
	}
	return nil
}

// RateLimitedError reports a request not sent (or refused with 429) because
// of a rate limit, and when it may be tried again.
type RateLimitedError struct {
	// RetryAfter is how long to wait before trying again.
	RetryAfter time.Duration
	// Reason says which limit: the client's own budget or Railway's 429.
	Reason string
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("railway: rate limited (%s), retry after %s", e.Reason, e.RetryAfter)
}

// Delay returns RetryAfter: the compute handlers turn it into the delay of
// the command's redelivery.
func (e *RateLimitedError) Delay() time.Duration { return e.RetryAfter }
