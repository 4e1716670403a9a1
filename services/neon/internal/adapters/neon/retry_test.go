package neon_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/neon/internal/adapters/neon"
	"clawdbot.cloud/services/neon/internal/app"
	"clawdbot.cloud/services/neon/internal/neontest"
)

func TestLockedRateLimitedAndUnavailableAreRetried(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.newCustomer(t)
	f.srv.Inject(neontest.Fault{Operation: "listProjectBranches", Status: http.StatusServiceUnavailable})
	f.srv.Inject(neontest.Fault{Operation: "createProjectBranch", Status: http.StatusLocked, Times: 2})
	f.srv.Inject(neontest.Fault{Operation: "getProjectOperation", Status: http.StatusServiceUnavailable, RetryAfter: "1"})
	f.srv.Inject(neontest.Fault{Operation: "resetProjectBranchRolePassword", Status: http.StatusLocked})
	f.srv.Inject(neontest.Fault{Operation: "getConnectionURI", Status: http.StatusTooManyRequests, RetryAfter: "7"})
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatalf("Create through 423, 429 and 503: %v", err)
	}
	checkConnects(t, f.storedURL(t, id))
	if n := len(f.srv.Branches(names.Database(id))); n != 1 {
		t.Errorf("%d branches after retried creates, want 1", n)
	}
	slept := f.srv.Slept()
	for _, want := range []time.Duration{7 * time.Second, time.Second} {
		if !slices.Contains(slept, want) {
			t.Errorf("waits %v: Retry-After %v not honoured", slept, want)
		}
	}
	retried := map[int]int{}
	for _, c := range f.srv.Calls() {
		if c.Status >= 400 {
			retried[c.Status]++
		}
	}
	if retried[423] != 3 || retried[429] != 1 || retried[503] != 2 {
		t.Errorf("fault answers %v, want 423×3, 429×1, 503×2", retried)
	}
}

func TestRetriesAreBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *neon.Config) { c.Timing.Attempts = 3 })
	id := f.newCustomer(t)
	f.srv.Inject(neontest.Fault{Operation: "listProjectBranches", Status: http.StatusServiceUnavailable, Times: 3})
	_, err := f.driver.Create(t.Context(), id)
	if err == nil || errors.Is(err, app.ErrRejected) {
		t.Fatalf("Create = %v, want a retryable error", err)
	}
	var apiErr *neon.APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusServiceUnavailable {
		t.Errorf("error %v does not carry the 503", err)
	}
	// Backoff without Retry-After: 500ms then 1s, each with jitter down to half.
	slept := f.srv.Slept()
	if len(slept) != 2 || slept[0] < 250*time.Millisecond || slept[0] > 500*time.Millisecond ||
		slept[1] < 500*time.Millisecond || slept[1] > time.Second {
		t.Errorf("waits %v, want about 500ms then 1s", slept)
	}
	// Retry-After beyond RetryMax: the answer goes back at once, the bus
	// redelivers later instead of the handler holding the message.
	f.srv.Inject(neontest.Fault{Operation: "listProjectBranches", Status: http.StatusTooManyRequests, RetryAfter: "3600"})
	before := len(f.srv.Slept())
	if _, err := f.driver.Create(t.Context(), id); err == nil || len(f.srv.Slept()) != before {
		t.Errorf("Create = %v after %d waits, want an error and no wait", err, len(f.srv.Slept())-before)
	}
}

func TestPermanentAnswersAreRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.newCustomer(t)
	f.srv.Inject(neontest.Fault{Operation: "createProjectBranch", Status: http.StatusUnprocessableEntity})
	_, err := f.driver.Create(t.Context(), id)
	if !errors.Is(err, app.ErrRejected) {
		t.Fatalf("Create after a 422 = %v, want app.ErrRejected", err)
	}
	f.srv.Inject(neontest.Fault{Operation: "createProjectBranch", Status: http.StatusInternalServerError})
	if _, err := f.driver.Create(t.Context(), id); err == nil || errors.Is(err, app.ErrRejected) {
		t.Fatalf("Create after a 500 = %v, want a retryable error", err)
	}
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatalf("Create once Neon answers again: %v", err)
	}
}

func TestDeleteIsIdempotentAndWaits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.newCustomer(t)
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	connURL := f.storedURL(t, id)
	f.srv.Inject(neontest.Fault{Operation: "deleteProjectBranch", Status: http.StatusLocked})
	if err := f.driver.Delete(t.Context(), id); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if conn, err := pgx.Connect(t.Context(), connURL); err == nil {
		conn.Close(t.Context()) //nolint:errcheck
		t.Fatal("Delete returned before the branch was gone: its URI still connects")
	}
	f.srv.ResetCalls()
	if err := f.driver.Delete(t.Context(), id); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	if got := ops(f.srv.Calls()); !slices.Equal(got, []string{"listProjectBranches"}) {
		t.Errorf("a second Delete called %v, want only the search", got)
	}
}

func TestSuspendAndResume(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	id := f.newCustomer(t)
	if _, err := f.driver.Create(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	state := func() string {
		b := f.srv.Branches(names.Database(id))[0]
		return b.EndpointState
	}
	for _, step := range []struct {
		name string
		do   func(context.Context, string) error
		want string
	}{
		{"suspend", f.driver.Suspend, "idle"},
		{"suspend again", f.driver.Suspend, "idle"},
		{"resume", f.driver.Resume, "active"},
		{"resume again", f.driver.Resume, "active"},
	} {
		f.srv.ResetCalls()
		if err := step.do(t.Context(), id); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := state(); got != step.want {
			t.Errorf("after %s the endpoint is %s, want %s", step.name, got, step.want)
		}
		if strings.HasSuffix(step.name, "again") && len(f.srv.Calls()) != 2 {
			t.Errorf("%s called %v, want only the search and the endpoint list", step.name, ops(f.srv.Calls()))
		}
	}
	checkConnects(t, f.storedURL(t, id))
	if err := f.driver.Suspend(t.Context(), f.newCustomer(t)); !errors.Is(err, app.ErrRejected) {
		t.Errorf("Suspend of a customer without a branch = %v, want app.ErrRejected", err)
	}
}

// checkConnects checks that connURL opens a database with the customer schema.
func checkConnects(t *testing.T, connURL string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), connURL)
	if err != nil {
		t.Fatalf("connect with the stored URI: %v", err)
	}
	defer conn.Close(t.Context()) //nolint:errcheck
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM workspace_files").Scan(&n); err != nil {
		t.Fatalf("the customer schema: %v", err)
	}
}
