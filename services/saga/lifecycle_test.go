package saga_test

import (
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
