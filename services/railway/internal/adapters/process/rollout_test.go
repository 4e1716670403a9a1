package process_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	"clawdbot.cloud/services/railway/internal/app"
)

// fakeInstalls lays out OPENCLAW_INSTALLS with one fake install per
// version, readable by every customer uid.
func fakeInstalls(t *testing.T, versions ...string) (string, map[string]fakeOpenClaw) {
	t.Helper()
	dir, err := os.MkdirTemp(filepath.Dir(helperBin), "openclaw-installs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out := map[string]fakeOpenClaw{}
	for _, v := range versions {
		out[v] = layFakeOpenClaw(t, filepath.Join(dir, v))
	}
	return dir, out
}

// teamRequest is a new customer on the team plan (the openclaw engine here).
func teamRequest(t *testing.T, h *harness) app.ProvisionRequest {
	t.Helper()
	req, _ := h.request(t)
	team, err := plans.Lookup(plans.Team)
	if err != nil {
		t.Fatal(err)
	}
	req.Plan = team
	return req
}

// waitGateways waits until f runs n gateways.
func waitGateways(t *testing.T, f fakeOpenClaw, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for f.gateways() != n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := f.gateways(); got != n {
		t.Fatalf("%s runs %d gateways, want %d", filepath.Base(f.dir), got, n)
	}
}

// TestRolloutInBatches: a rollout moves every openclaw instance to the new
// version in batches, each healthy, and moves the pin, so a new instance
// runs it too; a release whose gateway never gets healthy fails at its
// timeout and every instance it touched runs its previous version again,
// healthy, and the pin stays. A fake gateway stands in for OpenClaw (the
// real one is TestOpenClawRollout).
func TestRolloutInBatches(t *testing.T) {
	h := newHarness(t)
	installs, f := fakeInstalls(t, "1.0.0", "1.1.0", "1.2.0-broken")
	f["1.2.0-broken"].setMode(t, "fail")
	d := h.driver(t, func(o *process.Options) {
		o.Engines = plans.Engines{plans.Team: plans.EngineOpenClaw}
		o.Env = append(o.Env, "OPENAI_BASE_URL=http://127.0.0.1:1/v1", "OPENCLAW_SANDBOX=off")
		o.OpenClawInstalls, o.OpenClawVersion = installs, "1.0.0"
		o.EngineStart = 30 * time.Second
	})
	ctx := context.Background()
	var urls []string
	for range 3 {
		urls = append(urls, provision(t, d, teamRequest(t, h)).URL)
	}
	starter, _ := h.request(t) // the runtime engine: no version, not moved
	provision(t, d, starter)
	waitGateways(t, f["1.0.0"], 3)

	rep, err := d.Rollout(ctx, process.RolloutRequest{To: "1.1.0", Batch: 2, Timeout: 30 * time.Second})
	if err != nil || rep.Outcome != process.RolloutSucceeded {
		t.Fatalf("Rollout to 1.1.0 = %+v, %v; want succeeded", rep, err)
	}
	if len(rep.Moved) != 3 || rep.Pinned != "1.1.0" || d.Pinned() != "1.1.0" {
		t.Errorf("report %+v: want 3 instances moved and 1.1.0 pinned", rep)
	}
	for _, s := range rep.Moved {
		if !s.Healthy || s.From != "1.0.0" || s.To != "1.1.0" {
			t.Errorf("step %+v: want healthy 1.0.0 -> 1.1.0", s)
		}
	}
	waitGateways(t, f["1.1.0"], 3)
	waitGateways(t, f["1.0.0"], 0)
	if got := sum(t, h, "claw_compute_openclaw_instances", map[string]string{"version": "1.1.0"}); got != 3 {
		t.Errorf("claw_compute_openclaw_instances{version=1.1.0} = %v, want 3", got)
	}
	// A new instance gets the pinned version.
	fresh := teamRequest(t, h)
	provision(t, d, fresh)
	if in, err := h.st.Get(ctx, fresh.CustomerID); err != nil || in.OpenClawVersion != "1.1.0" {
		t.Errorf("new instance's version = %q, %v; want 1.1.0", in.OpenClawVersion, err)
	}
	if in, _ := h.st.Get(ctx, starter.CustomerID); in.OpenClawVersion != "" {
		t.Errorf("runtime-engine instance records openclaw version %q", in.OpenClawVersion)
	}
	waitGateways(t, f["1.1.0"], 4)

	rep, err = d.Rollout(ctx, process.RolloutRequest{To: "1.2.0-broken", Batch: 1, Timeout: 2 * time.Second})
	if err != nil || rep.Outcome != process.RolloutRolledBack {
		t.Fatalf("Rollout to a broken release = %+v, %v; want rolled_back", rep, err)
	}
	if len(rep.Moved) != 1 || rep.Moved[0].Healthy || rep.Failure == "" {
		t.Errorf("report %+v: want one unhealthy move (the first batch) and a failure", rep)
	}
	if len(rep.RolledBack) != 1 || !rep.RolledBack[0].Healthy || rep.RolledBack[0].To != "1.1.0" {
		t.Errorf("rolled back %+v: want the one instance healthy on 1.1.0 again", rep.RolledBack)
	}
	if d.Pinned() != "1.1.0" || rep.Pinned != "1.1.0" {
		t.Errorf("pinned %q after a rolled-back rollout, want 1.1.0", d.Pinned())
	}
	waitGateways(t, f["1.1.0"], 4)
	for _, u := range urls {
		if got := healthStatus(t, u); got != http.StatusOK {
			t.Errorf("%s/health after the rollback = %d, want 200", u, got)
		}
	}
	for outcome, want := range map[string]float64{process.RolloutSucceeded: 1, process.RolloutRolledBack: 1} {
		if got := sum(t, h, "claw_compute_openclaw_rollouts_total", map[string]string{"outcome": outcome}); got != want {
			t.Errorf("rollouts{outcome=%s} = %v, want %v", outcome, got, want)
		}
	}

	// Refused: a version that is not installed, or not a version at all.
	for _, v := range []string{"3.0.0", "../1.1.0", ""} {
		if _, err := d.Rollout(ctx, process.RolloutRequest{To: v}); !errors.Is(err, app.ErrRejected) ||
			!errors.Is(err, process.ErrVersionNotInstalled) {
			t.Errorf("Rollout to %q = %v, want ErrRejected wrapping ErrVersionNotInstalled", v, err)
		}
	}
}
