package cluster

import (
	"log/slog"
	"path/filepath"
	"testing"
	"time"
)

// newSleeper is a process running sleep(1) for a minute.
func newSleeper(t *testing.T, supervise bool) *Process {
	t.Helper()
	sleep, err := filepath.Abs("/bin/sleep")
	if err != nil {
		t.Fatal(err)
	}
	p := newProcess("sleep-1", "sleep", 1, "", filepath.Join(t.TempDir(), "sleep.log"), slog.New(slog.DiscardHandler), supervise)
	if err := p.start(sleep, []string{"60"}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(time.Second) })
	return p
}

// waitAlive waits until p runs again with a pid other than old.
func waitAlive(t *testing.T, p *Process, old int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !p.Alive() || p.PID() == old {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not come back (restarts %d)", p.Name, p.Restarts())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A supervised process killed twice comes back twice, counted; once the
// cluster stops it, it stays down.
func TestClusterSupervisorRestartsACrashedProcess(t *testing.T) {
	p := newSleeper(t, true)
	for i := 1; i <= 2; i++ {
		old := p.PID()
		if err := p.Kill(); err != nil {
			t.Fatal(err)
		}
		waitAlive(t, p, old)
		if got := p.Restarts(); got != i {
			t.Errorf("restarts after kill %d = %d", i, got)
		}
	}
	p.stop(5 * time.Second)
	time.Sleep(3 * restartBase) // longer than any backoff at this count
	if p.Alive() {
		t.Fatal("a stopped process was started again")
	}
	if err := p.Restart(); err == nil {
		t.Error("Restart of a stopped process succeeded")
	}
}

// An unsupervised process (a NATS node by default) stays down until it is
// asked back.
func TestClusterUnsupervisedProcessWaitsForRestart(t *testing.T) {
	p := newSleeper(t, false)
	old := p.PID()
	if err := p.Restart(); err == nil {
		t.Error("Restart of a running process succeeded")
	}
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * restartBase)
	if p.Alive() || p.Restarts() != 0 {
		t.Fatalf("unsupervised process came back by itself (restarts %d)", p.Restarts())
	}
	if err := p.Restart(); err != nil {
		t.Fatal(err)
	}
	waitAlive(t, p, old)
	if p.Restarts() != 1 {
		t.Errorf("restarts = %d, want 1", p.Restarts())
	}
}

// Stopping while a restart waits out its backoff ends the wait: nothing
// starts after stop returns.
func TestClusterStopDuringBackoffDoesNotRestart(t *testing.T) {
	p := newSleeper(t, true)
	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	p.stop(time.Second) // within the first backoff
	time.Sleep(3 * restartBase)
	if p.Alive() || p.Restarts() != 0 {
		t.Fatalf("restarted after stop (restarts %d)", p.Restarts())
	}
}
