package runtime_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/httpapi"
)

// sessionsOf counts the sessions ever opened on the instance's database
// (pg_stat_database.sessions): a backend started, whether or not it is
// still there. The test's own pool is opened first, and kept.
func sessionsOf(t *testing.T, in *instance) int64 {
	t.Helper()
	var n int64
	if err := in.pool.QueryRow(t.Context(), `SELECT pg_stat_force_next_flush()`).Scan(new(any)); err != nil {
		t.Fatal(err)
	}
	if err := in.pool.QueryRow(t.Context(), `SELECT sessions FROM pg_stat_database
		WHERE datname = current_database()`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// The health service's first read of a new instance's /status comes after
// the instance has closed its idle connection; the answer read at the
// workspace delivery serves it without a new backend. It stands only
// while the activity token stays and for a few minutes.
func TestStatusAfterTheDeliveryOpensNoBackend(t *testing.T) {
	clk := &clock{t: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
	in := startInstance(t, "cus_STATUSCACHE", plans.Starter,
		withConfig(func(c *runtime.Config) { c.InstanceToken = instanceToken }),
		withOptions(runtime.Options{DBIdle: 200 * time.Millisecond, Now: clk.now}))
	backends := func() int { return backendsOf(t, in) }
	status := func() httpapi.StatusBody {
		t.Helper()
		var body httpapi.StatusBody
		in.call(t, http.MethodGet, "/status", instanceToken, nil, http.StatusOK, &body)
		return body
	}
	d, key := newDelivery(t, customerdb.DeliveredFile{Path: "USER.md", Content: "Ada"})
	if resp, raw := in.do(t, http.MethodPut, httpapi.PlatformWorkspacePath, instanceToken, d); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delivery = %d %s", resp.StatusCode, raw)
	}
	waitNoBackend(t, backends)

	before := sessionsOf(t, in)
	first := status()
	if got := sessionsOf(t, in); got != before {
		t.Fatalf("the first /status after the delivery opened %d backends, want none", got-before)
	}
	if first.Activity == "" || first.Activity != activityToken(t, in.url) || first.Plan != plans.Starter ||
		first.Quota.MonthlyMessages == 0 || first.Usage.PeriodEnd.IsZero() {
		t.Fatalf("cached /status = %+v", first)
	}

	// The customer's own work moves the token: the next read is fresh.
	in.call(t, http.MethodPost, "/api/memory", key, map[string]any{"content": "prefers tea"}, http.StatusCreated, nil)
	waitNoBackend(t, backends)
	before = sessionsOf(t, in)
	if again := status(); again.Activity == first.Activity {
		t.Fatalf("/status after a memory was written still carries the delivery's token %q", first.Activity)
	}
	if got := sessionsOf(t, in); got != before+1 {
		t.Fatalf("/status after the token moved opened %d backends, want 1", got-before)
	}

	// Deliver again (a replay): cached again, but not for longer than a
	// few minutes, so the health service's periodic re-read still sees
	// what changed in the database without the instance.
	if resp, raw := in.do(t, http.MethodPut, httpapi.PlatformWorkspacePath, instanceToken, d); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delivery = %d %s", resp.StatusCode, raw)
	}
	waitNoBackend(t, backends)
	before = sessionsOf(t, in)
	status()
	if got := sessionsOf(t, in); got != before {
		t.Fatalf("/status right after the second delivery opened %d backends, want none", got-before)
	}
	clk.add(3 * time.Minute)
	waitNoBackend(t, backends)
	before = sessionsOf(t, in)
	status()
	if got := sessionsOf(t, in); got != before+1 {
		t.Fatalf("/status 3 minutes after the delivery opened %d backends, want 1 (a fresh read)", got-before)
	}
}
