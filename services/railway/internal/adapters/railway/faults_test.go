package railway_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/services/railway/internal/adapters/railway"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/railwaytest"
)

func TestRateLimitAnswersHonourRetryAfter(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	h.srv.Inject(
		railwaytest.Fault{Field: "environment", Status: 429, RetryAfter: "7", Times: 2},
		railwaytest.Fault{Field: "serviceDomainCreate", Status: 429, RetryAfter: "3"},
	)
	req := h.request(t)
	provision(t, d, req)
	h.only(t, req.CustomerID)
	sleeps := h.clock.Sleeps()
	for want, n := range map[time.Duration]int{7 * time.Second: 2, 3 * time.Second: 1} {
		if got := count(sleeps, want); got < n {
			t.Errorf("waited %s %d times, want %d (sleeps %v)", want, got, n, sleeps)
		}
	}
}

func TestLongRetryAfterGoesBackToTheBus(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t)
	h.srv.Inject(railwaytest.Fault{Field: "environment", Status: 429, RetryAfter: "1800"})
	_, err := d.Provision(context.Background(), h.request(t))
	var rl *railway.RateLimitedError
	if !errors.As(err, &rl) || rl.Delay() != 30*time.Minute {
		t.Fatalf("Provision = %v, want a RateLimitedError of 30m", err)
	}
	if errors.Is(err, app.ErrRejected) || errors.Is(err, app.ErrDeployFailed) {
		t.Errorf("a rate limit is not permanent: %v", err)
	}
}

func TestServerErrorsAndTimeoutsAreRetried(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t, func(o *railway.Options) { o.RequestTimeout = 100 * time.Millisecond })
	h.srv.Inject(
		railwaytest.Fault{Field: "environment", Status: 502},
		railwaytest.Fault{Field: "serviceInstanceUpdate", Status: 500, Times: 2},
		railwaytest.Fault{Field: "variableCollectionUpsert", Hang: true},                 // a timeout
		railwaytest.Fault{Field: "deployment", Status: 503, Delay: 5 * time.Millisecond}, // slow, then 503
	)
	req := h.request(t)
	provision(t, d, req)
	svc := h.only(t, req.CustomerID)
	if !slices.Equal(svc.Deployments, []string{"SUCCESS"}) {
		t.Errorf("deployments %v, want one SUCCESS", svc.Deployments)
	}
	for field, want := range map[string]int{
		"environment": 2, "serviceInstanceUpdate": 3, "variableCollectionUpsert": 2, "deployment": 3,
	} {
		if got := h.srv.Count(field); got != want {
			t.Errorf("%s sent %d times, want %d", field, got, want)
		}
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t, func(o *railway.Options) { o.MaxAttempts = 3 })
	h.srv.Inject(railwaytest.Fault{Field: "environment", Status: 500, Times: 10})
	_, err := d.Provision(context.Background(), h.request(t))
	if err == nil || errors.Is(err, app.ErrRejected) || errors.Is(err, app.ErrDeployFailed) {
		t.Fatalf("Provision = %v, want a retryable error", err)
	}
	if n := h.srv.Count("environment"); n != 3 {
		t.Errorf("sent %d times, want MaxAttempts = 3", n)
	}
}

// A create whose answer is lost (5xx or timeout after Railway did it) is
// not repeated blindly: the driver looks for what it created.
func TestLostAnswersCreateNothingTwice(t *testing.T) {
	h := newHarness(t)
	d := h.driver(t, func(o *railway.Options) { o.RequestTimeout = 100 * time.Millisecond })
	h.srv.Inject(
		railwaytest.Fault{Field: "serviceCreate", Status: 502, Applied: true},
		railwaytest.Fault{Field: "serviceDomainCreate", Hang: true, Applied: true},
		railwaytest.Fault{Field: "serviceInstanceDeployV2", Status: 504, Applied: true},
	)
	req := h.request(t)
	inst := provision(t, d, req)
	svc := h.only(t, req.CustomerID)
	if len(svc.Domains) != 1 || inst.URL != "https://"+svc.Domains[0] {
		t.Errorf("domains %v, URL %s; want one domain, the URL's", svc.Domains, inst.URL)
	}
	if !slices.Equal(svc.Deployments, []string{"SUCCESS"}) {
		t.Errorf("deployments %v, want the one adopted", svc.Deployments)
	}
	for _, field := range []string{"serviceCreate", "serviceDomainCreate", "serviceInstanceDeployV2"} {
		if n := h.srv.Count(field); n != 1 {
			t.Errorf("%s sent %d times, want 1", field, n)
		}
	}
}

func TestMalformedOperationIsRejected(t *testing.T) {
	h := newHarness(t)
	h.srv.Inject(railwaytest.Fault{Field: "environment", Status: 400})
	_, err := h.driver(t).Provision(context.Background(), h.request(t))
	if !errors.Is(err, app.ErrRejected) {
		t.Fatalf("Provision = %v, want ErrRejected", err)
	}
}

func TestFailedDeploymentIsPermanent(t *testing.T) {
	for _, status := range []string{"FAILED", "CRASHED"} {
		t.Run(status, func(t *testing.T) {
			h := newHarness(t)
			d := h.driver(t)
			h.srv.FailDeployments(status, 1)
			req := h.request(t)
			_, err := d.Provision(context.Background(), req)
			if !errors.Is(err, app.ErrDeployFailed) || !strings.Contains(err.Error(), status) {
				t.Fatalf("Provision = %v, want ErrDeployFailed (%s)", err, status)
			}
			// What the compute handler does next: delete what was started.
			if err := d.Delete(context.Background(), req.CustomerID); err != nil {
				t.Fatal(err)
			}
			if n := len(h.srv.Services(names.Service(req.CustomerID))); n != 0 {
				t.Errorf("%d services left", n)
			}
		})
	}
}

func TestDeploymentThatNeverSettlesTimesOut(t *testing.T) {
	h := newHarness(t, func(o *railwaytest.Options) { o.DeploySteps = 1000 })
	d := h.driver(t, func(o *railway.Options) { o.DeployTimeout = time.Minute })
	req := h.request(t)
	_, err := d.Provision(context.Background(), req)
	if err == nil || errors.Is(err, app.ErrDeployFailed) || !strings.Contains(err.Error(), "still") {
		t.Fatalf("Provision = %v, want a retryable timeout", err)
	}
	// The retry finds the deployment in progress and waits for it again
	// rather than deploying a second time.
	h.srv.ResetCalls()
	_, _ = d.Provision(context.Background(), req)
	if n := h.srv.Count("serviceInstanceDeployV2"); n != 0 {
		t.Errorf("the retry deployed %d more times, want 0", n)
	}
}

func TestTokenKinds(t *testing.T) {
	for _, tc := range []struct {
		server string
		driver railway.TokenKind
		ok     bool
	}{
		{"account", railway.AccountToken, true},
		{"account", railway.TeamToken, true},
		{"project", railway.ProjectToken, true},
		{"project", railway.AccountToken, false},
		{"account", railway.ProjectToken, false},
	} {
		t.Run(tc.server+"/"+string(tc.driver), func(t *testing.T) {
			h := newHarness(t, func(o *railwaytest.Options) { o.TokenKind = tc.server })
			d := h.driver(t, func(o *railway.Options) { o.TokenKind = tc.driver })
			_, err := d.Provision(context.Background(), h.request(t))
			if (err == nil) != tc.ok {
				t.Fatalf("Provision = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !strings.Contains(err.Error(), "Not Authorized") {
				t.Errorf("error %v does not say Not Authorized", err)
			}
		})
	}
}

func count(ds []time.Duration, d time.Duration) int {
	n := 0
	for _, x := range ds {
		if x == d {
			n++
		}
	}
	return n
}

// An error answer that quotes the variables (as graphql-js's does) must not
// carry the database URL into logs and events.
func TestErrorsNeverCarryTheDatabaseURL(t *testing.T) {
	h := newHarness(t)
	req := h.request(t)
	url, _ := h.secrets.Get(context.Background(), req.DatabaseRef)
	h.srv.Inject(railwaytest.Fault{Field: "variableCollectionUpsert", Status: 400,
		Message: `Variable "$variables" got invalid value {"RUNTIME_CONFIG_JSON":"{\"database_url\":\"` + string(url) + `\"}"}`})
	_, err := h.driver(t).Provision(context.Background(), req)
	if !errors.Is(err, app.ErrRejected) {
		t.Fatalf("Provision = %v, want ErrRejected", err)
	}
	if strings.Contains(err.Error(), string(url)) || strings.Contains(err.Error(), "pw-"+req.CustomerID) {
		t.Errorf("the error carries the database URL: %v", err)
	}
}
