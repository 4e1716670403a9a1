package saga_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func TestTimeouts(t *testing.T) {
	t.Run("retry succeeds", func(t *testing.T) {
		f := newFixture(t, func(c cmd) action {
			if c.Subject == subjects.CmdDatabaseCreate && c.Attempt == 1 {
				return drop
			}
			return reply
		})
		env, _ := f.start()
		f.signup("cs_slow", "evt_slow")
		id := names.SignupSagaID("cs_slow")
		f.waitCommands(subjects.CmdDatabaseCreate, 1)
		f.clock.Advance(29 * time.Second)
		f.clock.Advance(time.Second)
		f.waitStatus(id, "completed")
		if diff := cmp.Diff([]string{"cmd.database.create#1", "cmd.database.create#2"}, f.sim.seen(subjects.CmdDatabaseCreate)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if got := servicetest.Counter(t, env.Metrics, "claw_saga_step_failures_total", map[string]string{"step": "database", "reason_kind": "timeout"}); got != 1 {
			t.Errorf("timeouts = %v, want 1", got)
		}
	})
	t.Run("exhausted then compensated", func(t *testing.T) {
		f := newFixture(t, func(c cmd) action {
			if c.Subject == subjects.CmdDatabaseCreate {
				return drop
			}
			return reply
		})
		env, _ := f.start()
		f.signup("cs_dead", "evt_dead")
		id := names.SignupSagaID("cs_dead")
		servicetest.Eventually(t, 20*time.Second, "one saga running", func() bool { return gauge(t, env, "claw_saga_running") == 1 })
		for attempt := 1; attempt <= 3; attempt++ {
			f.waitCommands(subjects.CmdDatabaseCreate, attempt)
			if f.status(id) != "running" {
				t.Fatalf("saga %s before attempt %d timed out", f.status(id), attempt)
			}
			f.clock.Advance(30 * time.Second)
		}
		f.waitStatus(id, "compensated")
		servicetest.Eventually(t, 20*time.Second, "no saga running", func() bool { return gauge(t, env, "claw_saga_running") == 0 })
		if diff := cmp.Diff([]string{"cmd.database.delete#1"}, f.sim.seen("cmd.database.delete")); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		var ev pb.SagaCompensated
		f.last(subjects.SagaCompensated, &ev)
		if ev.FailedStep != "database" || ev.Reason != "database: timed out after 3 attempts" {
			t.Errorf("saga.compensated = %v", &ev)
		}
	})
	t.Run("compensation stuck leaves the saga failed", func(t *testing.T) {
		f := newFixture(t, func(c cmd) action {
			if c.Subject == subjects.CmdInstanceCheck {
				return fail
			}
			if c.Subject == subjects.CmdComputeDelete {
				return drop
			}
			return reply
		})
		env, _ := f.start()
		f.signup("cs_stuck", "evt_stuck")
		id := names.SignupSagaID("cs_stuck")
		for attempt := 1; attempt <= 3; attempt++ {
			f.waitCommands(subjects.CmdComputeDelete, attempt)
			f.clock.Advance(30 * time.Second)
		}
		f.waitStatus(id, "failed")
		if got := f.sim.seen("cmd.database.delete"); len(got) != 0 {
			t.Errorf("went on compensating past a stuck step: %v", got)
		}
		if f.count(subjects.SagaCompensated) != 0 {
			t.Error("saga.compensated published for a failed saga")
		}
		servicetest.Eventually(t, 10*time.Second, "saga.failed", func() bool { return f.count(subjects.SagaFailed) == 1 })
		var ev pb.SagaFailed
		f.last(subjects.SagaFailed, &ev)
		if ev.SagaId != id || ev.FailedStep != "instance" || ev.Reason == "" {
			t.Errorf("saga.failed = %v", &ev)
		}
		if got := servicetest.Counter(t, env.Metrics, "claw_saga_finished_total", map[string]string{"status": "failed"}); got != 1 {
			t.Errorf("finished{failed} = %v", got)
		}
	})
}

// waitCommands waits until the simulator has received attempt n of subject.
func (f *fixture) waitCommands(subject string, n int) {
	f.t.Helper()
	servicetest.Eventually(f.t, 20*time.Second, fmt.Sprintf("%s attempt %d", subject, n), func() bool {
		return len(f.sim.seen(subject)) >= n
	})
}
