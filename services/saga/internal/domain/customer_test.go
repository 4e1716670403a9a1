package domain

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func noSaga(string) bool { return false }

func activeCustomer() *Customer {
	return &Customer{ID: "cus_1", Plan: "pro", State: StateActive, SubscriptionID: "sub_1", DatabaseRef: "db/cus_1", LastEventAt: t0}
}

func ev(kind EventKind, id string, sec int) Event {
	return Event{ID: id, Kind: kind, Subject: "customer." + string(kind), CustomerID: "cus_1", SubscriptionID: "sub_1", Created: t0.Add(time.Duration(sec) * time.Second)}
}

func TestLifecycleEvents(t *testing.T) {
	for _, tc := range []struct {
		name      string
		state     string
		event     Event
		status    string
		wantState string
		saga      string // kind of the saga started, "" for none
		notices   []string
	}{
		{"upgrade", StateActive, Event{ID: "e", Kind: PlanChanged, CustomerID: "cus_1", Plan: "team", Created: t0}, EventApplied, StateActive, KindPlanChange, nil},
		{"same plan", StateActive, Event{ID: "e", Kind: PlanChanged, CustomerID: "cus_1", Plan: "pro", Created: t0}, EventIgnored, StateActive, "", nil},
		{"trial", StateActive, ev(TrialWillEnd, "e", 1), EventApplied, StateActive, "", []string{"trial_will_end"}},
		{"trial when canceled", StateCanceled, ev(TrialWillEnd, "e", 1), EventIgnored, StateCanceled, "", nil},
		{"payment failed", StateActive, ev(PaymentFailed, "e", 1), EventApplied, StatePastDue, "", []string{"payment_failed"}},
		{"paid while past due", StatePastDue, ev(PaymentSucceeded, "e", 1), EventApplied, StateActive, "", nil},
		{"paid while suspended", StateSuspended, ev(PaymentSucceeded, "e", 1), EventApplied, StateSuspended, KindResume, nil},
		{"paid while active", StateActive, ev(PaymentSucceeded, "e", 1), EventIgnored, StateActive, "", nil},
		{"cancel", StatePastDue, ev(Canceled, "e", 1), EventApplied, StatePastDue, KindCancel, nil},
		{"cancel twice", StateCanceled, ev(Canceled, "e", 1), EventIgnored, StateCanceled, "", nil},
		{"stale", StateActive, ev(PaymentFailed, "e", -1), EventIgnored, StateActive, "", nil},
		{"other subscription", StateActive, Event{ID: "e", Kind: Canceled, CustomerID: "cus_1", SubscriptionID: "sub_2"}, EventIgnored, StateActive, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := activeCustomer()
			c.State = tc.state
			c, v := ApplyEvent(c, tc.event, t0, DefaultLifecycle, policy, noSaga)
			if v.Status != tc.status || c.State != tc.wantState {
				t.Fatalf("status %s (%s) state %s; want %s %s", v.Status, v.Reason, c.State, tc.status, tc.wantState)
			}
			kind := ""
			if v.Saga != nil {
				kind = v.Saga.Kind
				if c.ActiveSaga != v.Saga.ID {
					t.Errorf("active saga %q, want %q", c.ActiveSaga, v.Saga.ID)
				}
			}
			if kind != tc.saga {
				t.Errorf("saga %q, want %q", kind, tc.saga)
			}
			var notices []string
			for _, n := range v.Notices {
				notices = append(notices, n.Kind)
			}
			if diff := cmp.Diff(tc.notices, notices); diff != "" {
				t.Errorf("notices (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBusyOrUnknownCustomerKeepsEventsPending(t *testing.T) {
	if _, v := ApplyEvent(nil, ev(Canceled, "e", 1), t0, DefaultLifecycle, policy, noSaga); v.Status != EventPending {
		t.Errorf("unknown customer: %s", v.Status)
	}
	c := activeCustomer()
	c.ActiveSaga = "signup-cs_1"
	if _, v := ApplyEvent(c, ev(Canceled, "e", 1), t0, DefaultLifecycle, policy, noSaga); v.Status != EventPending {
		t.Errorf("busy customer: %s", v.Status)
	}
}

func TestTimersAndFinish(t *testing.T) {
	l := DefaultLifecycle
	c := activeCustomer()
	c, _ = ApplyEvent(c, ev(PaymentFailed, "e1", 1), t0, l, policy, noSaga)
	if v := c.FireTimers(t0.Add(l.Grace-time.Second), policy); v.Status != "" {
		t.Fatalf("fired early: %+v", v)
	}
	v := c.FireTimers(t0.Add(l.Grace), policy)
	if v.Saga == nil || v.Saga.Kind != KindSuspend || !c.GraceUntil.IsZero() {
		t.Fatalf("grace end: %+v", v)
	}
	finish := func(s *Saga, at time.Time) Verdict {
		s.finish(Completed, at, &Outcome{})
		return c.Finished(s, at, l)
	}
	finish(v.Saga, t0.Add(l.Grace))
	if c.State != StateSuspended || c.ActiveSaga != "" {
		t.Fatalf("after suspend: %+v", c)
	}
	c.State = StateActive
	c, v = ApplyEvent(c, ev(Canceled, "e2", 2), t0, l, policy, noSaga)
	canceledAt := t0.Add(time.Hour)
	finish(v.Saga, canceledAt)
	if c.State != StateCanceled || !c.ArchiveAt.Equal(canceledAt.Add(l.ArchiveAfter)) || !c.DeleteAt.Equal(canceledAt.Add(l.DeleteAfter)) {
		t.Fatalf("after cancel: %+v", c)
	}
	// The clock jumps past both timers: archive first, then delete.
	late := canceledAt.Add(l.DeleteAfter)
	v = c.FireTimers(late, policy)
	if v.Saga == nil || v.Saga.Kind != KindArchive {
		t.Fatalf("first timer: %+v", v)
	}
	v.Saga.ArchiveRef = "archive/cus_1"
	finish(v.Saga, late)
	v = c.FireTimers(late, policy)
	if v.Saga == nil || v.Saga.Kind != KindDelete || len(v.Saga.Steps) != 2 || v.Saga.Steps[1].Name != DestroyArchive {
		t.Fatalf("second timer: %+v", v)
	}
	finish(v.Saga, late)
	if c.State != StateDeleted {
		t.Errorf("state %s", c.State)
	}
}

func TestReturningCustomer(t *testing.T) {
	for _, tc := range []struct {
		state string
		steps []StepName
	}{
		{StateCanceled, []StepName{Rekey, StartCompute}},
		{StateArchived, []StepName{Restore, Rekey, StartCompute}},
	} {
		c := activeCustomer()
		c.State = tc.state
		in := Signup{SagaID: "signup-cs_2", CustomerID: "cus_1", CheckoutSessionID: "cs_2", Plan: "team"}
		c, v := ApplyEvent(c, Event{ID: "evt_2", Kind: SignedUp, CustomerID: "cus_1", SubscriptionID: "sub_2", Signup: &in}, t0, DefaultLifecycle, policy, noSaga)
		if v.Saga == nil || v.Saga.Kind != KindReactivate || v.Saga.ID != "signup-cs_2" || c.SubscriptionID != "sub_2" {
			t.Fatalf("%s: %+v", tc.state, v)
		}
		var got []StepName
		for _, st := range v.Saga.Steps {
			got = append(got, st.Name)
		}
		if diff := cmp.Diff(tc.steps, got); diff != "" {
			t.Errorf("%s steps (-want +got):\n%s", tc.state, diff)
		}
		if len(v.SagaOut.Sends) != 1 || v.SagaOut.Sends[0].Step != tc.steps[0] {
			t.Errorf("%s first sends %+v", tc.state, v.SagaOut.Sends)
		}
	}
}

func TestWireNames(t *testing.T) {
	if WireName(Resize, true) != "resize_undo" || WireName(Resize, false) != "resize" || WireName(Compute, true) != "compute" {
		t.Error("wire names")
	}
	if n, undo := ParseWireName("skills_undo"); n != Skills || !undo {
		t.Errorf("parse skills_undo: %s %v", n, undo)
	}
	if n, undo := ParseWireName("compute"); n != Compute || undo {
		t.Errorf("parse compute: %s %v", n, undo)
	}
}
