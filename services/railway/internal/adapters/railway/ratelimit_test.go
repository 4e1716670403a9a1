package railway_test

import (
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/services/railway/internal/adapters/railway"
)

// Concurrent provisionings (one per saga) share one budget: their requests
// together stay within the per-second and per-hour limits.
func TestConcurrentProvisioningsShareTheRateLimit(t *testing.T) {
	const perSecond, perHour, customers = 5, 30, 5
	h := newHarness(t)
	d := h.driver(t, func(o *railway.Options) {
		o.RatePerSecond, o.RatePerHour = perSecond, perHour
		o.MaxRateWait, o.DeployTimeout = 24*time.Hour, 24*time.Hour
	})
	start := h.clock.Now()
	var wg sync.WaitGroup
	for range customers {
		req := h.request(t)
		wg.Go(func() { provision(t, d, req) })
	}
	wg.Wait()

	calls := h.srv.Calls()
	if len(calls) <= perHour {
		t.Fatalf("%d requests: the test needs more than the hourly limit", len(calls))
	}
	// Calls are stamped when they arrive, never before the limiter let them
	// go, so the first window of each length holds at most what the
	// limiter released in it.
	within := func(w time.Duration) int {
		n := 0
		for _, c := range calls {
			if c.At.Before(start.Add(w)) {
				n++
			}
		}
		return n
	}
	if n := within(time.Second); n > perSecond {
		t.Errorf("%d requests in the first second, limit %d", n, perSecond)
	}
	if n := within(time.Hour); n > perHour {
		t.Errorf("%d requests in the first hour, limit %d", n, perHour)
	}
	last := calls[len(calls)-1].At.Sub(start)
	// 3 at once, then 27 an hour.
	if need := time.Duration(float64(len(calls)-3) / 27 * float64(time.Hour)); last < need {
		t.Errorf("the last of %d requests went after %s, want at least %s", len(calls), last, need)
	}
	t.Logf("%d customers, %d requests, last after %s of virtual time", customers, len(calls), last)
}
