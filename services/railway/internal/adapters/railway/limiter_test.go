package railway

import (
	"context"
	"errors"
	"testing"
	"time"
)

// stepClock is a clock for one goroutine: Sleep advances it exactly.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time { return c.now }
func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.now = c.now.Add(max(d, 0))
	return ctx.Err()
}

// maxInWindow is the largest number of times within any window of length w
// (times sorted).
func maxInWindow(times []time.Time, w time.Duration) int {
	best, lo := 0, 0
	for hi := range times {
		for times[hi].Sub(times[lo]) >= w {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

func TestLimiterKeepsEveryWindowWithinTheLimits(t *testing.T) {
	for _, tc := range []struct{ perSecond, perHour, requests int }{
		{10, 1000, 1500}, // Hobby
		{50, 10000, 800}, // Pro
		{3, 40, 200},
		{1, 1, 5},
	} {
		clock := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		l := NewLimiter(tc.perSecond, tc.perHour, 24*time.Hour, clock)
		sent := make([]time.Time, 0, tc.requests)
		for range tc.requests {
			if err := l.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, clock.now)
		}
		if got := maxInWindow(sent, time.Second); got > tc.perSecond {
			t.Errorf("%+v: %d requests within one second", tc, got)
		}
		if got := maxInWindow(sent, time.Hour); got > tc.perHour {
			t.Errorf("%+v: %d requests within one hour", tc, got)
		}
		// Not slower than the buckets require: a tenth of the limit at once,
		// then the rest of the limit per window.
		need := func(limit int, window time.Duration) time.Duration {
			burst := max(limit/10, 1)
			return time.Duration(float64(tc.requests-burst) / float64(max(limit-burst, 1)) * float64(window))
		}
		elapsed := sent[len(sent)-1].Sub(sent[0])
		if floor := max(need(tc.perSecond, time.Second), need(tc.perHour, time.Hour)); elapsed > floor+time.Second {
			t.Errorf("%+v: %d requests took %s, want about %s", tc, tc.requests, elapsed, floor)
		}
		t.Logf("%+v: last request after %s", tc, elapsed)
	}
}

func TestLimiterReturnsLongWaits(t *testing.T) {
	clock := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l := NewLimiter(100, 10, time.Minute, clock) // burst 1, then one per 400s
	if err := l.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := l.Wait(context.Background())
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter < 6*time.Minute {
		t.Fatalf("Wait = %v, want a RateLimitedError of about 400s", err)
	}
	// The refused request took no token: after the wait, one goes through.
	clock.now = clock.now.Add(rl.RetryAfter)
	if err := l.Wait(context.Background()); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}
