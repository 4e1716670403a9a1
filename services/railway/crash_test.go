package railway

import (
	"encoding/base64"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/services/railway/internal/testkit"
)

// TestKilledServiceLeavesNoOrphans runs the compute service as its own
// process, kills it with SIGKILL (no shutdown at all), and checks that its
// runtimes died with it and that the next start runs each of them once.
func TestKilledServiceLeavesNoOrphans(t *testing.T) {
	w := newWorld(t)
	cmd := exec.Command(serviceBin)
	cmd.Env = []string{
		"NATS_URL=" + w.p.NATSURL,
		// The compute service's own principal, as in production.
		"NATS_USER=" + busauth.Railway,
		"NATS_PASSWORD=" + w.p.NATSCreds[busauth.Railway],
		"DATABASE_URL=" + w.p.DBURL,
		"CLAW_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(w.p.Key),
		"OPS_ADDR=127.0.0.1:0",
		"DATA_DIR=" + t.TempDir(),
		"RUNTIME_BINARY=" + runtimeBin,
	}
	if os.Getenv("TEST_LOG") != "" {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })

	c := w.customer(t)
	w.provision(t, c, 1)
	url := w.waitProvisioned(t, 1).GetInstanceUrl()
	before := pids(t, c)
	if len(before) != 1 {
		t.Fatalf("runtimes = %v, want one", before)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	servicetest.Eventually(t, wait, "the runtime to die with the service", func() bool {
		return !alive(before[0])
	})

	servicetest.Start(t, w.env(t), Run)
	servicetest.Eventually(t, wait, "the instance to run again", func() bool {
		code, err := testkit.Health(url)
		return err == nil && code == 200
	})
	if after := pids(t, c); len(after) != 1 || after[0] == before[0] {
		t.Errorf("runtimes after the restart = %v, want one new one (old: %d)", after, before[0])
	}
}
