package saga_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func TestFailureCompensatesInReverse(t *testing.T) {
	// The simulator answers the instance check only after the workspace is
	// done, so the parallel steps finish in a known order and the relay
	// publishes in outbox order: the whole command sequence is exact. When
	// the database fails, cmd.compute.prepare is left unanswered (in
	// flight): it is undone first, by cmd.compute.delete. Once compute was
	// provisioned, its cmd.compute.delete undoes prepare too: it is not sent
	// twice. The workspace, built after the compute step, is undone first.
	undoAll := []string{"cmd.workspace.delete#1", "cmd.compute.delete#1", "cmd.database.delete#1"}
	for _, tc := range []struct {
		failing string
		want    []string
	}{
		{subjects.CmdDatabaseCreate, []string{"cmd.database.create#1", "cmd.compute.prepare#1", "cmd.compute.delete#1", "cmd.database.delete#1"}},
		{subjects.CmdComputeProvision, append(forward[:3:3], "cmd.compute.delete#1", "cmd.database.delete#1")},
		{subjects.CmdWorkspaceBuild, append(forward[:5:5], undoAll...)},
		{subjects.CmdInstanceCheck, append(forward[:5:5], undoAll...)},
	} {
		step := strings.Split(tc.failing, ".")[1]
		t.Run(step, func(t *testing.T) {
			f := newFixture(t, func(c cmd) action {
				if c.Subject == tc.failing {
					return fail
				}
				if tc.failing == subjects.CmdDatabaseCreate && c.Subject == subjects.CmdComputePrepare {
					return drop
				}
				return reply
			})
			env, _ := f.start()
			f.signup("cs_"+step, "evt_"+step)
			id := names.SignupSagaID("cs_" + step)
			f.waitStatus(id, "compensated")

			if diff := cmp.Diff(tc.want, f.sim.seen("cmd.")); diff != "" {
				t.Errorf("commands (-want +got):\n%s", diff)
			}
			if f.count(subjects.SagaCompensated) != 1 || f.count(subjects.SagaCompleted) != 0 {
				t.Errorf("compensated %d completed %d", f.count(subjects.SagaCompensated), f.count(subjects.SagaCompleted))
			}
			var ev pb.SagaCompensated
			f.last(subjects.SagaCompensated, &ev)
			if ev.SagaId != id || ev.FailedStep != step || ev.Reason != step+": simulated failure" || ev.CheckoutSessionId != "cs_"+step {
				t.Errorf("saga.compensated = %v", &ev)
			}
			if got := servicetest.Counter(t, env.Metrics, "claw_saga_step_failures_total", map[string]string{"step": step, "reason_kind": "reported"}); got != 1 {
				t.Errorf("step failures = %v, want 1", got)
			}
			if got := servicetest.Counter(t, env.Metrics, "claw_saga_compensations_total", nil); got != float64(countDeletes(tc.want)) {
				t.Errorf("compensations = %v, want %d", got, countDeletes(tc.want))
			}
		})
	}
}

func countDeletes(cmds []string) int {
	n := 0
	for _, c := range cmds {
		if strings.Contains(c, ".delete#") {
			n++
		}
	}
	return n
}
