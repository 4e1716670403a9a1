package saga_test

import (
	"testing"
	"time"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// holdInstance holds the signup's instance check until Release, so events
// can arrive while the signup saga runs.
func holdInstance(c cmd) action {
	if c.Subject == subjects.CmdInstanceCheck {
		return held
	}
	return reply
}

func TestCancelDuringSignupAppliesAfter(t *testing.T) {
	f := newLifecycle(t, holdInstance)
	f.start()
	f.signup("cs_race", "evt_cs_race")
	cus := "cus_cs_race"
	f.waitCommands(subjects.CmdInstanceCheck, 1)
	f.publish(subjects.CustomerCanceled, &pb.CustomerCanceled{Stripe: ref("cs_race", "evt_gone", 10), CustomerId: cus}, "gone")
	servicetest.Eventually(t, 20*time.Second, "cancel pending", func() bool { st, _ := f.eventStatus("evt_gone"); return st == "pending" })
	f.sim.Release()
	f.waitStatus(names.SignupSagaID("cs_race"), "completed")
	f.waitCustomer(cus, "canceled")
	if st, _ := f.eventStatus("evt_gone"); st != "applied" {
		t.Errorf("cancel %s", st)
	}
	if len(f.commands(subjects.CmdComputeStop)) != 1 || len(f.commands(subjects.CmdWorkspaceRevoke)) != 1 {
		t.Errorf("stop %v revoke %v", f.commands(subjects.CmdComputeStop), f.commands(subjects.CmdWorkspaceRevoke))
	}
}

func TestCancelDuringFailedSignupLeavesNothing(t *testing.T) {
	f := newLifecycle(t, func(c cmd) action {
		if c.Subject == subjects.CmdInstanceCheck {
			return fail
		}
		return holdInstance(c)
	})
	f.start()
	cus := "cus_cs_racefail"
	// The cancellation arrives first; the signup runs and fails.
	f.publish(subjects.CustomerCanceled, &pb.CustomerCanceled{Stripe: ref("cs_racefail", "evt_gone", 10), CustomerId: cus}, "gone")
	servicetest.Eventually(t, 20*time.Second, "cancel pending", func() bool { st, _ := f.eventStatus("evt_gone"); return st == "pending" })
	f.signup("cs_racefail", "evt_cs_racefail")
	f.waitStatus(names.SignupSagaID("cs_racefail"), "compensated")
	f.waitCustomer(cus, "deleted")
	servicetest.Eventually(t, 20*time.Second, "cancel decided", func() bool { st, _ := f.eventStatus("evt_gone"); return st == "ignored" })
	for _, s := range []string{subjects.CmdComputeDelete, subjects.CmdWorkspaceDelete, subjects.CmdDatabaseDelete} {
		if len(f.commands(s)) != 1 {
			t.Errorf("%s: %v", s, f.commands(s))
		}
	}
	if len(f.commands(subjects.CmdComputeStop)) != 0 {
		t.Errorf("stop sent for a customer that has nothing: %v", f.commands(subjects.CmdComputeStop))
	}
}

func TestPlanChangeBeforeSignupCompletes(t *testing.T) {
	f := newLifecycle(t, holdInstance)
	f.start()
	f.signup("cs_early", "evt_cs_early")
	cus := "cus_cs_early"
	f.waitCommands(subjects.CmdInstanceCheck, 1)
	f.publish(subjects.CustomerPlanChanged, &pb.CustomerPlanChanged{Stripe: ref("cs_early", "evt_plan", 10), CustomerId: cus, Plan: "team"}, "plan")
	servicetest.Eventually(t, 20*time.Second, "plan pending", func() bool { st, _ := f.eventStatus("evt_plan"); return st == "pending" })
	if len(f.commands(subjects.CmdComputeResize)) != 0 {
		t.Fatal("resized during signup")
	}
	f.sim.Release()
	servicetest.Eventually(t, 20*time.Second, "plan team", func() bool {
		c := f.customer(cus)
		return c.Plan == "team" && c.State == "active" && c.Active == ""
	})
	var resize pb.ResizeCompute
	f.last(subjects.CmdComputeResize, &resize)
	if resize.Plan != "team" {
		t.Errorf("resize = %v", &resize)
	}
}

func TestEventsOfUnknownCustomerWaitThenApplyOrDrop(t *testing.T) {
	f := newLifecycle(t, always(reply))
	f.vars["SAGA_PENDING_RETENTION"] = "48h"
	f.start()
	// Stripe's subscription.updated reaches us before the signup event.
	f.publish(subjects.CustomerPlanChanged, &pb.CustomerPlanChanged{Stripe: ref("cs_late", "evt_first", 10), CustomerId: "cus_cs_late", Plan: "team"}, "first")
	f.publish(subjects.CustomerCanceled, &pb.CustomerCanceled{Stripe: ref("cs_never", "evt_orphan", 10), CustomerId: "cus_never"}, "orphan")
	servicetest.Eventually(t, 20*time.Second, "kept pending", func() bool {
		a, _ := f.eventStatus("evt_first")
		b, _ := f.eventStatus("evt_orphan")
		return a == "pending" && b == "pending"
	})
	f.signup("cs_late", "evt_cs_late")
	servicetest.Eventually(t, 20*time.Second, "applied after signup", func() bool {
		c := f.customer("cus_cs_late")
		return c.Plan == "team" && c.State == "active" && c.Active == ""
	})
	f.clock.Advance(49 * time.Hour)
	servicetest.Eventually(t, 20*time.Second, "orphan dropped", func() bool { st, _ := f.eventStatus("evt_orphan"); return st == "dropped" })
	if _, reason := f.eventStatus("evt_orphan"); reason == "" {
		t.Error("dropped without a reason")
	}
}
