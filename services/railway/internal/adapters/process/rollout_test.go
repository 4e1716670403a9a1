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
	"clawdbot.cloud/services/railway/internal/store"
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

// waitMoves waits until the recorded rollout has moved n instances, and
// returns it.
func waitMoves(t *testing.T, h *harness, n int) store.Rollout {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, ok, err := h.st.UnfinishedRollout(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if ok && len(r.Moves) >= n {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("recorded rollout %+v (%v): want %d instances moved", r, ok, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitRollout waits until d's latest rollout is no longer running.
func waitRollout(t *testing.T, d *process.Driver) process.RolloutReport {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		rep, ok := d.LastRollout()
		if ok && rep.Outcome != process.RolloutRunning {
			return rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout still running: %+v", rep)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRolloutResumedAfterARestart: a rollout cut short by the compute
// service stopping (the driver closes while its first batch waits for
// health) stays recorded, with the instances it moved and the versions
// they left. The next driver starts them on the new version and resumes
// the rollout: no other rollout may start meanwhile; it health-checks the
// moved batch and goes on with the rest, and the pin moves. A rollout cut
// short on a release that never gets healthy is resumed the same way and
// fails its check: every instance it moved runs its previous version
// again, healthy, and the pin stays. Fake gateways, as TestRolloutInBatches.
func TestRolloutResumedAfterARestart(t *testing.T) {
	h := newHarness(t)
	installs, f := fakeInstalls(t, "1.0.0", "1.1.0", "1.2.0-broken")
	f["1.2.0-broken"].setMode(t, "fail")
	work := workDir(t)
	tune := func(o *process.Options) {
		o.Engines = plans.Engines{plans.Team: plans.EngineOpenClaw}
		o.Env = append(o.Env, "OPENAI_BASE_URL=http://127.0.0.1:1/v1", "OPENCLAW_SANDBOX=off")
		o.OpenClawInstalls, o.OpenClawVersion = installs, "1.0.0"
		o.EngineStart = 30 * time.Second
		o.WorkDir = work
	}
	d := h.driver(t, tune)
	ctx := context.Background()
	var ids, urls []string
	for range 3 {
		req := teamRequest(t, h)
		ids = append(ids, req.CustomerID)
		urls = append(urls, provision(t, d, req).URL)
	}
	waitGateways(t, f["1.0.0"], 3)

	// 1.1.0 cannot start for now: the first batch waits for its health
	// when the service stops.
	f["1.1.0"].setMode(t, "fail")
	if err := d.StartRollout(process.RolloutRequest{To: "1.1.0", Batch: 2, Timeout: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	waitMoves(t, h, 2)
	d.Close()
	if rep, _ := d.LastRollout(); rep.Outcome != process.RolloutInterrupted {
		t.Errorf("report after the driver closed: %+v, want interrupted", rep)
	}
	r := waitMoves(t, h, 2)
	if r.To != "1.1.0" || r.Phase != store.RolloutOut || len(r.Moves) != 2 {
		t.Fatalf("recorded rollout %+v: want rolling out to 1.1.0 with 2 moves", r)
	}
	for _, m := range r.Moves {
		if m.From != "1.0.0" || m.Healthy {
			t.Errorf("recorded move %+v: want from 1.0.0, not yet healthy", m)
		}
	}

	d2 := h.driver(t, tune)
	if err := d2.StartRollout(process.RolloutRequest{To: "1.1.0"}); !errors.Is(err, process.ErrRolloutRunning) {
		t.Errorf("a second rollout while one is resumed: %v, want ErrRolloutRunning", err)
	}
	f["1.1.0"].setMode(t, "ok")
	rep := waitRollout(t, d2)
	if rep.Outcome != process.RolloutSucceeded || !rep.Resumed || len(rep.Moved) != 3 || rep.Pinned != "1.1.0" || d2.Pinned() != "1.1.0" {
		t.Fatalf("resumed rollout = %+v: want succeeded, resumed, 3 moved, 1.1.0 pinned", rep)
	}
	for _, s := range rep.Moved {
		if !s.Healthy || s.From != "1.0.0" || s.To != "1.1.0" {
			t.Errorf("step %+v: want healthy 1.0.0 -> 1.1.0", s)
		}
	}
	waitGateways(t, f["1.1.0"], 3)
	waitGateways(t, f["1.0.0"], 0)
	if _, ok, err := h.st.UnfinishedRollout(ctx); ok || err != nil {
		t.Errorf("a rollout is still recorded after it succeeded (%v)", err)
	}
	if pin, _ := h.st.PinnedOpenClaw(ctx); pin != "1.1.0" {
		t.Errorf("recorded pin %q, want 1.1.0", pin)
	}

	// Cut short on a broken release, resumed, rolled back.
	if err := d2.StartRollout(process.RolloutRequest{To: "1.2.0-broken", Batch: 1, Timeout: 5 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	moved := waitMoves(t, h, 1).Moves[0].CustomerID
	d2.Close()
	// The recorded timeout, shortened: the test need not wait 5 minutes
	// for the broken release to be given up on.
	if _, err := h.pool.Exec(ctx, `UPDATE railway.openclaw_rollout SET timeout_ms = 2000`); err != nil {
		t.Fatal(err)
	}
	d3 := h.driver(t, tune)
	rep = waitRollout(t, d3)
	if rep.Outcome != process.RolloutRolledBack || !rep.Resumed || rep.Failure == "" || d3.Pinned() != "1.1.0" {
		t.Fatalf("resumed broken rollout = %+v: want rolled back, resumed, with a failure, 1.1.0 still pinned", rep)
	}
	if len(rep.Moved) != 1 || rep.Moved[0].Healthy || rep.Moved[0].CustomerID != moved {
		t.Errorf("moved %+v: want the one instance moved before the restart, unhealthy", rep.Moved)
	}
	if len(rep.RolledBack) != 1 || !rep.RolledBack[0].Healthy || rep.RolledBack[0].To != "1.1.0" {
		t.Errorf("rolled back %+v: want the one instance healthy on 1.1.0 again", rep.RolledBack)
	}
	waitGateways(t, f["1.1.0"], 3)
	for i, u := range urls {
		if got := healthStatus(t, u); got != http.StatusOK {
			t.Errorf("%s/health after the rollback = %d, want 200", u, got)
		}
		if in, err := h.st.Get(ctx, ids[i]); err != nil || in.OpenClawVersion != "1.1.0" {
			t.Errorf("%s's version = %q, %v; want 1.1.0", ids[i], in.OpenClawVersion, err)
		}
	}
	if _, ok, err := h.st.UnfinishedRollout(ctx); ok || err != nil {
		t.Errorf("a rollout is still recorded after it rolled back (%v)", err)
	}
	if got := sum(t, h, "claw_compute_openclaw_rollouts_total", map[string]string{"outcome": process.RolloutRolledBack}); got != 1 {
		t.Errorf("rollouts{outcome=rolled_back} = %v, want 1", got)
	}
}
