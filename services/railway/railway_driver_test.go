package railway

import (
	"context"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/railway/internal/railwaytest"
)

// The Railway account of the service-level tests.
const (
	rwToken   = "svc-test-token"
	rwProject = "9a1b2c3d-0000-4000-8000-00000000000a"
	rwEnv     = "9a1b2c3d-0000-4000-8000-00000000000b"
)

// railwayEnv is an environment of the compute service with the railway
// driver against srv.
func (w *world) railwayEnv(t *testing.T, srv *railwaytest.Server) map[string]string {
	t.Helper()
	return map[string]string{
		"COMPUTE_DRIVER":         "railway",
		"RUNTIME_VERSION":        "test",
		"RAILWAY_API_URL":        srv.URL,
		"RAILWAY_TOKEN":          rwToken,
		"RAILWAY_TOKEN_KIND":     "project",
		"RAILWAY_PROJECT_ID":     rwProject,
		"RAILWAY_ENVIRONMENT_ID": rwEnv,
		"RAILWAY_RUNTIME_IMAGE":  "ghcr.io/clawdbot/runtime:test",
		"RAILWAY_POLL_INTERVAL":  "5ms",
		"ANTHROPIC_API_KEY":      "sk-ant-svc",
		"PATH":                   "/usr/bin",
	}
}

func newRailway(t *testing.T) *railwaytest.Server {
	return railwaytest.New(t, railwaytest.Options{
		Token: rwToken, TokenKind: "project", ProjectID: rwProject, EnvironmentID: rwEnv,
	})
}

func TestRailwayDriverOverTheBus(t *testing.T) {
	w := newWorld(t)
	srv := newRailway(t)
	env := w.p.Env(t, "railway", w.railwayEnv(t, srv))
	servicetest.Start(t, env, Run)
	c := w.customer(t)

	w.provision(t, c, 1)
	got := w.waitProvisioned(t, 1)
	svcs := srv.Services(c.ServiceID())
	if len(svcs) != 1 || got.GetServiceId() != c.ServiceID() || got.GetInstanceUrl() != "https://"+svcs[0].Domains[0] {
		t.Fatalf("compute.provisioned = %v; services %+v", got, svcs)
	}
	if code, err := srv.Health(got.GetInstanceUrl()); err != nil || code != 200 {
		t.Errorf("GET /health = %d, %v", code, err)
	}
	vars := svcs[0].Variables
	if !strings.Contains(vars["RUNTIME_CONFIG_JSON"], c.DatabaseURL) || vars["ANTHROPIC_API_KEY"] != "sk-ant-svc" {
		t.Errorf("variables miss the database URL or the model key: %v", keys(vars))
	}
	if _, ok := vars["PATH"]; ok {
		t.Errorf("the service's PATH was forwarded to Railway")
	}

	w.provision(t, c, 2)
	if again := w.waitProvisioned(t, 2); again.GetInstanceUrl() != got.GetInstanceUrl() {
		t.Errorf("second compute.provisioned = %v", again)
	}
	if n := len(srv.Services(c.ServiceID())); n != 1 {
		t.Errorf("%d services after two provisions", n)
	}

	w.delete(t, c)
	servicetest.Eventually(t, wait, "compute.deleted", func() bool {
		return w.events.Published(t, subjects.ComputeDeleted) == 1
	})
	if n := len(srv.Services(c.ServiceID())); n != 0 {
		t.Errorf("%d services after delete", n)
	}
	assertNoCustomerLabels(t, env, c)
}

// A deployment that fails is a failed step: compute.failed for the saga to
// compensate, after the service that was started is deleted.
func TestRailwayFailedDeploymentFailsTheStep(t *testing.T) {
	w := newWorld(t)
	srv := newRailway(t)
	srv.FailDeployments("FAILED", 1)
	servicetest.Start(t, w.p.Env(t, "railway", w.railwayEnv(t, srv)), Run)
	c := w.customer(t)

	w.provision(t, c, 1)
	servicetest.Eventually(t, wait, "compute.failed", func() bool {
		return w.events.Published(t, subjects.ComputeFailed) == 1
	})
	var failed pb.StepFailed
	w.events.Last(t, subjects.ComputeFailed, &failed)
	if !strings.Contains(failed.GetReason(), "FAILED") {
		t.Errorf("reason %q does not say the deployment FAILED", failed.GetReason())
	}
	servicetest.Eventually(t, wait, "the dead letter", func() bool {
		return w.events.DeadLetters(t, "railway") == 1
	})
	if n := len(srv.Services(c.ServiceID())); n != 0 {
		t.Errorf("%d services left behind by the failed provisioning", n)
	}
	if strings.Contains(failed.GetReason(), c.DatabaseURL) {
		t.Errorf("the failure reason leaks the database URL")
	}
}

func TestRailwayConfigurationProblemsAreReportedTogether(t *testing.T) {
	w := newWorld(t)
	env := w.p.Env(t, "railway", map[string]string{
		"COMPUTE_DRIVER": "railway", "RAILWAY_API_URL": "http://railway.example/graphql/v2",
		"RAILWAY_RATE_PER_HOUR": "0", "RAILWAY_DOMAIN_SCHEME": "http", "RUNTIME_ENGINES": "team=openclaw",
	})
	err := Run(context.Background(), env)
	if err == nil {
		t.Fatal("Run accepted a railway driver without settings")
	}
	for _, want := range []string{
		"RAILWAY_TOKEN is required", "RAILWAY_TOKEN_KIND is required", "RAILWAY_PROJECT_ID is required",
		"RAILWAY_ENVIRONMENT_ID is required", "RAILWAY_RUNTIME_IMAGE is required", "RAILWAY_API_URL must use https",
		"RAILWAY_RATE_PER_HOUR must be positive", "RAILWAY_DOMAIN_SCHEME=http is for a Railway test server on this machine only",
		"team=openclaw: RAILWAY_OPENCLAW_IMAGE is required",
	} {
		wantContains(t, err.Error(), want)
	}
	if strings.Contains(err.Error(), "RUNTIME_BINARY") {
		t.Errorf("the railway driver asked for RUNTIME_BINARY: %v", err)
	}
}

// An OpenClaw image not pinned by its digest stops the service at start.
func TestRailwayOpenClawImageMustBePinned(t *testing.T) {
	w := newWorld(t)
	srv := newRailway(t)
	env := w.railwayEnv(t, srv)
	env["RUNTIME_ENGINES"] = "team=openclaw"
	env["RAILWAY_OPENCLAW_IMAGE"] = "ghcr.io/openclaw/openclaw:2026.9.6"
	err := Run(context.Background(), w.p.Env(t, "railway", env))
	if err == nil || !strings.Contains(err.Error(), "RAILWAY_OPENCLAW_IMAGE") || !strings.Contains(err.Error(), "pinned by digest") {
		t.Fatalf("Run = %v, want RAILWAY_OPENCLAW_IMAGE refused as not pinned by digest", err)
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
