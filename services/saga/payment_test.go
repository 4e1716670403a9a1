package saga_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func TestPaymentFailedSuspendsAfterGraceAndPaidResumes(t *testing.T) {
	f := newLifecycle(t, always(reply))
	f.start()
	cus := f.active("cs_pay")
	f.publish(subjects.CustomerPaymentFailed, &pb.CustomerPaymentFailed{Stripe: ref("cs_pay", "evt_fail1", 10), CustomerId: cus, InvoiceId: "in_1", AttemptCount: 1}, "fail1")
	c := f.waitCustomer(cus, "past_due")
	if c.Grace == nil || !c.Grace.Equal(f.clock.Now().Add(72*time.Hour)) {
		t.Fatalf("grace timer %v, want now+72h", c.Grace)
	}
	// Just before the grace ends nothing happens.
	f.clock.Advance(72*time.Hour - time.Second)
	f.publish(subjects.CustomerTrialWillEnd, &pb.CustomerTrialWillEnd{Stripe: ref("cs_pay", "evt_probe", 11), CustomerId: cus}, "probe")
	servicetest.Eventually(t, 20*time.Second, "probe applied", func() bool { st, _ := f.eventStatus("evt_probe"); return st == "applied" })
	if got := f.commands(subjects.CmdComputeStop); len(got) != 0 {
		t.Fatalf("stopped before the grace ended: %v", got)
	}
	f.clock.Advance(time.Second)
	f.waitCustomer(cus, "suspended")
	var stop pb.StopCompute
	f.last(subjects.CmdComputeStop, &stop)
	if stop.Reason != "suspended" || stop.Step.GetName() != "stop" {
		t.Errorf("stop = %v", &stop)
	}
	f.publish(subjects.CustomerPaymentSucceeded, &pb.CustomerPaymentSucceeded{Stripe: ref("cs_pay", "evt_paid", 20), CustomerId: cus, InvoiceId: "in_1"}, "paid")
	c = f.waitCustomer(cus, "active")
	var start pb.StartCompute
	f.last(subjects.CmdComputeStart, &start)
	if start.Plan != "pro" || start.DatabaseRef != "db/"+cus {
		t.Errorf("start = %v", &start)
	}
	if c.Grace != nil {
		t.Errorf("grace timer left: %v", c.Grace)
	}
	want := []string{"welcome", "payment_failed", "trial_will_end", "suspended", "resumed"}
	if got := f.notices(cus); !cmp.Equal(got, want) {
		t.Errorf("notices %v, want %v", got, want)
	}
	if got, want := f.states(cus), []string{"provisioning", "active", "past_due", "suspended", "active"}; !cmp.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
}

func TestPaidWithinGraceCancelsTheTimer(t *testing.T) {
	f := newLifecycle(t, always(reply))
	f.start()
	cus := f.active("cs_grace")
	f.publish(subjects.CustomerPaymentFailed, &pb.CustomerPaymentFailed{Stripe: ref("cs_grace", "evt_f", 10), CustomerId: cus}, "f")
	f.waitCustomer(cus, "past_due")
	f.publish(subjects.CustomerPaymentSucceeded, &pb.CustomerPaymentSucceeded{Stripe: ref("cs_grace", "evt_p", 20), CustomerId: cus}, "p")
	c := f.waitCustomer(cus, "active")
	if c.Grace != nil {
		t.Fatalf("grace timer kept: %v", c.Grace)
	}
	f.clock.Advance(100 * time.Hour)
	f.publish(subjects.CustomerTrialWillEnd, &pb.CustomerTrialWillEnd{Stripe: ref("cs_grace", "evt_probe", 21), CustomerId: cus}, "probe")
	servicetest.Eventually(t, 20*time.Second, "probe applied", func() bool { st, _ := f.eventStatus("evt_probe"); return st == "applied" })
	if got := f.commands(subjects.CmdComputeStop); len(got) != 0 {
		t.Errorf("stopped after paying: %v", got)
	}
}

func TestStaleEventIgnored(t *testing.T) {
	f := newLifecycle(t, always(reply))
	f.start()
	cus := f.active("cs_stale")
	// invoice.paid (created 20) is applied first; the older payment_failed
	// (created 10) arrives late and must not make the customer past_due.
	f.publish(subjects.CustomerPaymentSucceeded, &pb.CustomerPaymentSucceeded{Stripe: ref("cs_stale", "evt_new", 20), CustomerId: cus}, "new")
	servicetest.Eventually(t, 20*time.Second, "paid recorded", func() bool { st, _ := f.eventStatus("evt_new"); return st == "ignored" })
	f.publish(subjects.CustomerPlanChanged, &pb.CustomerPlanChanged{Stripe: ref("cs_stale", "evt_plan", 30), CustomerId: cus, Plan: "team"}, "plan")
	servicetest.Eventually(t, 20*time.Second, "plan team", func() bool { return f.customer(cus).Plan == "team" && f.customer(cus).Active == "" })
	f.publish(subjects.CustomerPaymentFailed, &pb.CustomerPaymentFailed{Stripe: ref("cs_stale", "evt_old", 10), CustomerId: cus}, "old")
	servicetest.Eventually(t, 20*time.Second, "stale recorded", func() bool { st, _ := f.eventStatus("evt_old"); return st == "ignored" })
	if _, reason := f.eventStatus("evt_old"); reason == "" || reason[:5] != "stale" {
		t.Errorf("reason %q", reason)
	}
	if s := f.customer(cus).State; s != "active" {
		t.Errorf("state %s after a stale payment failure", s)
	}
	// An event of another subscription never touches this one.
	other := ref("cs_other", "evt_othersub", 40)
	f.publish(subjects.CustomerCanceled, &pb.CustomerCanceled{Stripe: other, CustomerId: cus}, "othersub")
	servicetest.Eventually(t, 20*time.Second, "other subscription recorded", func() bool { st, _ := f.eventStatus("evt_othersub"); return st == "ignored" })
	if s := f.customer(cus).State; s != "active" {
		t.Errorf("state %s after another subscription's cancel", s)
	}
}
