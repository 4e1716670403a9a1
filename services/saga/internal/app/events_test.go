package app

import (
	"strings"
	"testing"

	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// The event just recorded is applied as decoded off the bus; only events
// kept pending from earlier are decoded from the store.
func TestPendingEventDecodesOnce(t *testing.T) {
	fresh := &domain.Event{ID: "evt_1", Subject: subjects.CustomerCanceled, CustomerID: "cus_1"}
	stored := store.Event{ID: "evt_1", Subject: subjects.CustomerCanceled, Payload: []byte("not protojson")}
	e, err := pendingEvent(stored, fresh)
	if err != nil || e.ID != "evt_1" || e.CustomerID != "cus_1" {
		t.Errorf("fresh event = %+v, %v; want it as given", e, err)
	}
	stored.ID = "evt_0" // an older pending event: read from its payload
	if _, err := pendingEvent(stored, fresh); err == nil {
		t.Error("an older event was not decoded from the store")
	}
}

// Every command the domain sends has a subject, and the message command()
// builds for it is the one its subject carries.
func TestEveryCommandHasItsSubject(t *testing.T) {
	s := &domain.Saga{ID: "signup-cs_1", CustomerID: "cus_1", Plan: "pro"}
	for _, c := range domain.Commands {
		subject, ok := commandSubjects[c]
		if !ok {
			t.Errorf("%s has no subject", c)
			continue
		}
		want := subjects.New(subject)
		if want == nil || !strings.HasPrefix(subject, "cmd."+c.Service()+".") {
			t.Errorf("%s: subject %q", c, subject)
			continue
		}
		for n := range stepsSending(c) {
			got := command(s, domain.Send{Step: n.step, Compensation: n.compensation}, &pb.Step{})
			if got.ProtoReflect().Descriptor() != want.ProtoReflect().Descriptor() {
				t.Errorf("%s (step %s): message %s, subject %s carries %s", c, n.step,
					got.ProtoReflect().Descriptor().FullName(), subject, want.ProtoReflect().Descriptor().FullName())
			}
		}
	}
	if len(commandSubjects) != len(domain.Commands) {
		t.Errorf("%d subjects for %d commands", len(commandSubjects), len(domain.Commands))
	}
}

type sending struct {
	step         domain.StepName
	compensation bool
}

// stepsSending lists the steps (and compensations) whose command is c.
func stepsSending(c domain.Command) map[sending]bool {
	out := map[sending]bool{}
	for _, kind := range [][]domain.StepName{domain.Order, {domain.Resize, domain.Skills, domain.Stop, domain.StartCompute,
		domain.Revoke, domain.Rekey, domain.Archive, domain.Restore, domain.DestroyArchive, domain.DestroyCompute,
		domain.DestroyWorkspace, domain.DestroyDatabase}} {
		for _, n := range kind {
			for _, comp := range []bool{false, true} {
				if domain.CommandOf(n, comp) == c {
					out[sending{n, comp}] = true
				}
			}
		}
	}
	return out
}
