package railway_test

import (
	"context"
	"testing"
	"time"

	"clawdbot.cloud/services/railway/internal/adapters/railway"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/railwaytest"
)

// unlimited lifts the driver's rate budget, to measure the driver alone.
func unlimited(o *railway.Options) { o.RatePerSecond, o.RatePerHour = 1_000_000, 1_000_000_000 }

// BenchmarkProvision provisions new customers against the fake Railway
// (real HTTP on loopback, every operation validated against the schema;
// deployments settle after 2 polls, on a virtual clock) and reports the
// API calls each takes.
func BenchmarkProvision(b *testing.B) {
	h := newHarness(b)
	d := h.driver(b, unlimited)
	reqs := make([]app.ProvisionRequest, b.N)
	for i := range reqs {
		reqs[i] = h.request(b)
	}
	h.srv.ResetCalls()
	b.ResetTimer()
	for i := range b.N {
		provision(b, d, reqs[i])
	}
	b.ReportMetric(float64(len(h.srv.Calls()))/float64(b.N), "api-calls/op")
}

// TestProvisioningCriticalPath measures, with every answer of the fake
// Railway taking a fixed round trip, how many round trips lie on the
// provisioning's critical path, and how they split between the part that
// needs no database (Prepare) and the part that does. Run with -v for the
// figures.
func TestProvisioningCriticalPath(t *testing.T) {
	const rtt = 10 * time.Millisecond
	h := newHarness(t, func(o *railwaytest.Options) { o.Latency = rtt })
	d := h.driver(t, unlimited)
	ctx := context.Background()
	roundTrips := func(d time.Duration) float64 { return float64(d) / float64(rtt) }

	req := h.request(t)
	start := time.Now()
	provision(t, d, req)
	whole := time.Since(start)
	calls := len(h.srv.Calls())

	h.srv.ResetCalls()
	req2 := h.request(t)
	start = time.Now()
	if _, err := d.Prepare(ctx, req2.CustomerID, req2.Plan); err != nil {
		t.Fatal(err)
	}
	prepare, prepareCalls := time.Since(start), len(h.srv.Calls())
	h.srv.ResetCalls()
	start = time.Now()
	if _, err := d.Deploy(ctx, req2); err != nil {
		t.Fatal(err)
	}
	rest, restCalls := time.Since(start), len(h.srv.Calls())

	h.srv.ResetCalls()
	provision(t, d, req2)
	again := len(h.srv.Calls())

	t.Logf("fresh provisioning: %d API calls in sequence, %s with a %s round trip (%.1f round trips; the rest is the driver and the fake); Railway's own deployment time adds to it",
		calls, whole.Round(time.Millisecond), rtt, roundTrips(whole))
	t.Logf("split: Prepare (list, create, configure, domain) %d calls, %s; then Deploy (list, variables, deploy, 2 polls) %d calls, %s",
		prepareCalls, prepare.Round(time.Millisecond), restCalls, rest.Round(time.Millisecond))
	t.Logf("provisioning a running service again: %d call", again)
	if calls != 8 || prepareCalls != 4 || restCalls != 5 || again != 1 {
		t.Errorf("calls: fresh %d, prepare %d, rest %d, again %d; want 8, 4, 5, 1", calls, prepareCalls, restCalls, again)
	}
}
