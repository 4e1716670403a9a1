package process_test

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"clawdbot.cloud/services/railway/internal/adapters/process"
	"clawdbot.cloud/services/railway/internal/testkit"
)

// testCgroupParent holds the test runtimes' cgroups, apart from a running
// platform's.
const testCgroupParent = "clawdbot-test"

// isolationMode is "on": the tests run as root (CI and the development
// machine do) and fail rather than silently run without isolation.
// CLAW_SKIP_ISOLATION_TESTS=1 (no root) runs them without it.
func isolationMode() string {
	if os.Getenv("CLAW_SKIP_ISOLATION_TESTS") == "1" {
		return process.IsolationOff
	}
	return process.IsolationOn
}

// workDir returns a work directory that runtimes under their own uids can
// traverse (t.TempDir's parent is 0700), removed when the test ends.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "claw-work-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startProcess starts argv in a process group of its own, reaped in the
// background and killed when the test ends.
func startProcess(t *testing.T, argv, env []string, stdin string) int {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	return cmd.Process.Pid
}

// startRuntime starts the customer's runtime on port the way the driver
// does, but outside it: a runtime left behind by an earlier run.
func startRuntime(t *testing.T, c testkit.Customer, port int) int {
	t.Helper()
	cfg, err := json.Marshal(map[string]string{
		"customer_id": c.ID, "plan": "starter", "listen_addr": "127.0.0.1:" + strconv.Itoa(port),
		"database_url": c.DatabaseURL, "instance_id": c.ServiceID(), "version": "leftover",
	})
	if err != nil {
		t.Fatal(err)
	}
	return startProcess(t, []string{runtimeBin}, []string{process.MarkerEnv + "=" + c.ServiceID()}, string(cfg))
}

// portOf returns the port of an instance URL.
func portOf(t *testing.T, instanceURL string) int {
	t.Helper()
	u, err := url.Parse(instanceURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// counter sums the counter name over its labels.
func counter(t *testing.T, h *harness, name string) float64 {
	t.Helper()
	return sum(t, h, name, nil)
}

// gauge returns the gauge name with label state.
func gauge(t *testing.T, h *harness, name, state string) float64 {
	t.Helper()
	return sum(t, h, name, map[string]string{"state": state})
}

func sum(t *testing.T, h *harness, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metric:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue metric
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}
