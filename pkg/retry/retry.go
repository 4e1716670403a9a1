// Package retry holds the platform's one backoff rule and its one reader
// of a server's Retry-After advice, shared by the bus consumers and the
// HTTP clients of the Neon, Railway, Slack and model-provider APIs.
package retry

import (
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Backoff is the wait before retry number attempt (1-based): base, doubled
// for every attempt after the first, capped at max.
func Backoff(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// Jitter spreads d with equal jitter: half of it fixed, half random, so
// clients that failed together do not come back together.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	half := d / 2
	return half + rand.N(half+1)
}

// After reads a server's Retry-After header at now: delay seconds (whole or
// fractional) or an HTTP date, never negative (a date in the past is 0). ok
// is false when there is no usable header.
func After(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}
