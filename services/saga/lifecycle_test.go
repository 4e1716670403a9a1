package saga_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func TestPlanChangeUpgradeAndDowngrade(t *testing.T) {
	f := newLifecycle(t, always(reply))
	f.start()
	cus := f.active("cs_plan")
	if got := f.notices(cus); !cmp.Equal(got, []string{"welcome"}) {
		t.Errorf("notices after signup %v, want welcome", got)
	}
	up := &pb.CustomerPlanChanged{Stripe: ref("cs_plan", "evt_up", 10), CustomerId: cus, Plan: "team", PreviousPlan: "pro"}
	f.publish(subjects.CustomerPlanChanged, up, "up-1")
	servicetest.Eventually(t, 20*time.Second, "plan team", func() bool { return f.customer(cus).Plan == "team" && f.customer(cus).Active == "" })
	var resize pb.ResizeCompute
	f.last(subjects.CmdComputeResize, &resize)
	var skills pb.RenderSkills
	f.last(subjects.CmdWorkspaceSkills, &skills)
	if resize.Plan != "team" || skills.Plan != "team" || skills.DatabaseRef != "db/"+cus || resize.Step.GetName() != "resize" {
		t.Errorf("resize %v skills %v", &resize, &skills)
	}
	// Duplicate delivery: nothing new.
	f.publish(subjects.CustomerPlanChanged, up, "up-2")
	down := &pb.CustomerPlanChanged{Stripe: ref("cs_plan", "evt_down", 20), CustomerId: cus, Plan: "starter", PreviousPlan: "team"}
	f.publish(subjects.CustomerPlanChanged, down, "down-1")
	servicetest.Eventually(t, 20*time.Second, "plan starter", func() bool { return f.customer(cus).Plan == "starter" && f.customer(cus).Active == "" })
	f.last(subjects.CmdComputeResize, &resize)
	if resize.Plan != "starter" {
		t.Errorf("downgrade resized to %q", resize.Plan)
	}
	if got := f.commands(subjects.CmdComputeResize); len(got) != 2 {
		t.Errorf("resizes %v, want 2", got)
	}
	if st, _ := f.eventStatus("evt_up"); st != "applied" {
		t.Errorf("evt_up %s", st)
	}
	if f.customer(cus).State != "active" {
		t.Errorf("state %s", f.customer(cus).State)
	}
}

func TestPlanChangeCompensatesToPreviousPlan(t *testing.T) {
	f := newLifecycle(t, func(c cmd) action {
		if c.Subject == subjects.CmdWorkspaceSkills && c.Msg.(*pb.RenderSkills).GetPlan() == "team" {
			return fail
		}
		return reply
	})
	f.start()
	cus := f.active("cs_planfail")
	f.publish(subjects.CustomerPlanChanged, &pb.CustomerPlanChanged{Stripe: ref("cs_planfail", "evt_pf", 10), CustomerId: cus, Plan: "team"}, "pf")
	servicetest.Eventually(t, 20*time.Second, "plan change compensated", func() bool {
		return f.sagaCount(cus, "plan_change") == 1 && f.status("plan_change-"+cus+"-evt_pf") == "compensated"
	})
	f.waitCustomer(cus, "active")
	var resize pb.ResizeCompute
	f.last(subjects.CmdComputeResize, &resize)
	if resize.Plan != "pro" {
		t.Errorf("compensation resized to %q, want pro", resize.Plan)
	}
	if got := f.commands(subjects.CmdComputeResize); len(got) != 2 {
		t.Errorf("resizes %v, want forward + compensation", got)
	}
	if resize.Step.GetName() != "resize_undo" || resize.Step.GetAttempt() != 1 {
		t.Errorf("compensation step %v, want resize_undo attempt 1", resize.Step)
	}
	if p := f.customer(cus).Plan; p != "pro" {
		t.Errorf("plan %s after a failed change, want pro", p)
	}
}

func TestTrialWillEndNotifiesOnce(t *testing.T) {
	f := newLifecycle(t, always(reply))
	f.start()
	cus := f.active("cs_trial")
	ev := &pb.CustomerTrialWillEnd{Stripe: ref("cs_trial", "evt_trial", 5), CustomerId: cus, TrialEnd: nil}
	f.publish(subjects.CustomerTrialWillEnd, ev, "trial-1")
	f.publish(subjects.CustomerTrialWillEnd, ev, "trial-2")
	servicetest.Eventually(t, 20*time.Second, "trial notice", func() bool { return len(f.notices(cus)) == 2 })
	servicetest.Eventually(t, 20*time.Second, "duplicate recorded", func() bool {
		st, _ := f.eventStatus("evt_trial")
		return st == "applied" && f.count(subjects.CustomerNotice) == 2
	})
	if got := f.notices(cus); !cmp.Equal(got, []string{"welcome", "trial_will_end"}) {
		t.Errorf("notices %v", got)
	}
}

// TestPlanChangeAcrossEngines: a plan change onto the openclaw engine
// (Pro on the runtime engine to Team on openclaw) is a resize whose answer
// comes once the new engine is healthy, minutes later on a loaded machine:
// the saga waits for it (SAGA_ENGINE_TIMEOUT) instead of timing it out at
// the step timeout and resending it; and when the compute service reports
// the engine failed, the change is compensated back to the previous plan
// (and so engine), the failed step and its reason in saga.compensated.
func TestPlanChangeAcrossEngines(t *testing.T) {
	t.Run("slow engine start is waited for", func(t *testing.T) {
		f := newLifecycle(t, func(c cmd) action {
			if c.Subject == subjects.CmdComputeResize && c.Msg.(*pb.ResizeCompute).GetPlan() == "team" {
				return held
			}
			return reply
		})
		f.start()
		cus := f.active("cs_engine")
		f.publish(subjects.CustomerPlanChanged, &pb.CustomerPlanChanged{Stripe: ref("cs_engine", "evt_eng", 10), CustomerId: cus, Plan: "team"}, "eng")
		f.waitCommands(subjects.CmdComputeResize, 1)
		id := "plan_change-" + cus + "-evt_eng"
		// The resize's deadline is the engine timeout's, not the step's.
		var wait time.Duration
		err := f.p.DB.QueryRow(context.Background(), `SELECT deadline - $2::timestamptz FROM saga.saga_steps
			WHERE saga_id = $1 AND name = 'resize'`, id, f.clock.Now()).Scan(&wait)
		if err != nil {
			t.Fatal(err)
		}
		if wait < 5*time.Minute {
			t.Errorf("the resize times out in %s, want the engine timeout (6m)", wait)
		}
		// Four minutes of a gateway's start: far past the step timeout.
		f.clock.Advance(4 * time.Minute)
		if st := f.status(id); st != "running" {
			t.Fatalf("saga %s while the engine starts, want running", st)
		}
		f.sim.Release()
		f.waitStatus(id, "completed")
		if got := f.commands(subjects.CmdComputeResize); len(got) != 1 {
			t.Errorf("resizes %v, want the one answered late", got)
		}
		// The customer takes the saga's end in a transaction of its own,
		// after the saga's: its plan moves once it is idle again.
		if p := f.waitCustomer(cus, "active").Plan; p != "team" {
			t.Errorf("plan %s, want team", p)
		}
	})
	t.Run("failed engine is compensated", func(t *testing.T) {
		f := newLifecycle(t, func(c cmd) action {
			if c.Subject == subjects.CmdComputeResize && c.Msg.(*pb.ResizeCompute).GetPlan() == "team" {
				return fail
			}
			return reply
		})
		f.start()
		cus := f.active("cs_engfail")
		f.publish(subjects.CustomerPlanChanged, &pb.CustomerPlanChanged{Stripe: ref("cs_engfail", "evt_ef", 10), CustomerId: cus, Plan: "team"}, "ef")
		id := "plan_change-" + cus + "-evt_ef"
		f.waitStatus(id, "compensated")
		f.waitCustomer(cus, "active")
		var resize pb.ResizeCompute
		f.last(subjects.CmdComputeResize, &resize)
		if resize.Plan != "pro" || resize.Step.GetName() != "resize_undo" {
			t.Errorf("compensation %v, want resize_undo to pro", &resize)
		}
		if got := f.commands(subjects.CmdWorkspaceSkills); len(got) != 0 {
			t.Errorf("skills rendered %v after the resize failed", got)
		}
		var comp pb.SagaCompensated
		f.last(subjects.SagaCompensated, &comp)
		if comp.FailedStep != "resize" || comp.Reason == "" {
			t.Errorf("saga.compensated = %v, want the failed resize and its reason", &comp)
		}
		if p := f.customer(cus).Plan; p != "pro" {
			t.Errorf("plan %s after a failed engine change, want pro", p)
		}
	})
}
