package cgroup_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/services/railway/internal/cgroup"
)

// read returns the trimmed content of a file.
func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestForPlan(t *testing.T) {
	l := cgroup.ForPlan(0.5, 512, 256)
	if l.MemoryBytes != 512<<20 || l.CPUQuota != 50*time.Millisecond || l.CPUPeriod != 100*time.Millisecond || l.Pids != 256 {
		t.Fatalf("ForPlan(0.5, 512, 256) = %+v", l)
	}
}

// TestV2Files writes a group into a plain directory standing in for the
// unified hierarchy: this machine's cgroup v2 has no memory, cpu or pids
// controller, so the v2 writes are checked here and cgroup v1 for real.
func TestV2Files(t *testing.T) {
	root := t.TempDir()
	m, err := cgroup.NewV2(root, "clawdbot")
	if err != nil {
		t.Fatal(err)
	}
	if m.Version() != 2 {
		t.Fatalf("version %d", m.Version())
	}
	for _, d := range []string{root, filepath.Join(root, "clawdbot")} {
		if got := read(t, filepath.Join(d, "cgroup.subtree_control")); got != "+memory +cpu +pids" {
			t.Errorf("%s/cgroup.subtree_control = %q", d, got)
		}
	}
	g, err := m.Create("claw-a", cgroup.ForPlan(2, 2048, 256))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "clawdbot", "claw-a")
	want := map[string]string{
		"memory.max": "2147483648", "memory.swap.max": "0", "cpu.max": "200000 100000", "pids.max": "256",
	}
	for f, v := range want {
		if got := read(t, filepath.Join(dir, f)); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	f, ok, err := g.FD()
	if err != nil || !ok {
		t.Fatalf("FD = %v, %v", ok, err)
	}
	f.Close()
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("group dir after Remove: %v", err)
	}
}

// TestV1 creates a real cgroup v1 group (as root, as CI and the
// development machine run), moves a process into it and removes it,
// killing the process.
func TestV1(t *testing.T) {
	requireRoot(t)
	parent := "clawdbot-test-" + filepath.Base(t.TempDir())
	m, err := cgroup.Detect("", parent)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, c := range []string{"memory", "cpu", "pids"} {
			_ = os.Remove(m.Dir(c, ""))
		}
	})
	if m.Version() != 1 {
		t.Logf("cgroup v%d detected; this test checks v1's files", m.Version())
		return
	}
	g, err := m.Create("claw-a", cgroup.ForPlan(0.5, 512, 256))
	if err != nil {
		t.Fatal(err)
	}
	for file, want := range map[string]string{
		m.Dir("memory", "claw-a") + "/memory.limit_in_bytes": "536870912",
		m.Dir("cpu", "claw-a") + "/cpu.cfs_quota_us":         "50000",
		m.Dir("cpu", "claw-a") + "/cpu.cfs_period_us":        "100000",
		m.Dir("pids", "claw-a") + "/pids.max":                "256",
	} {
		if got := read(t, file); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	if err := g.Enter(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if !g.Contains(cmd.Process.Pid) {
		t.Fatal("process not in its group after Enter")
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the group's process exited cleanly; want killed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Remove left the group's process running")
	}
	for _, c := range []string{"memory", "cpu", "pids"} {
		if _, err := os.Stat(m.Dir(c, "claw-a")); !os.IsNotExist(err) {
			t.Errorf("%s group after Remove: %v", c, err)
		}
	}
}

// requireRoot fails the test when not run as root: isolation tests must
// not pass by skipping. CLAW_SKIP_ISOLATION_TESTS=1 skips them explicitly
// (a developer machine without root).
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Getenv("CLAW_SKIP_ISOLATION_TESTS") == "1" {
		t.Skip("CLAW_SKIP_ISOLATION_TESTS=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("isolation tests need root (CI and the development machine run as root); CLAW_SKIP_ISOLATION_TESTS=1 skips them")
	}
}
