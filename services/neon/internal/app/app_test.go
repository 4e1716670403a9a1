package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/neon/internal/app"
)

// failedStep waits for database.failed and checks it echoes step.
func failedStep(t *testing.T, h *harness, step *pb.Step) *pb.StepFailed {
	t.Helper()
	raw := waitMsg(t, h.env.Bus.JetStream(), subjects.Stream, subjects.DatabaseFailed)
	var ev pb.StepFailed
	if err := bus.Decode(raw.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(step, ev.Step, protocmp.Transform()); diff != "" {
		t.Errorf("database.failed step (-sent +got):\n%s", diff)
	}
	if got, want := raw.Header.Get("Nats-Msg-Id"), fmt.Sprintf("database.failed-%s-database-1", step.SagaId); got != want {
		t.Errorf("Nats-Msg-Id %q, want %q", got, want)
	}
	return &ev
}

// deadLetter waits for the command's dead letter.
func deadLetter(t *testing.T, h *harness, subject string) {
	t.Helper()
	raw := waitMsg(t, h.env.Bus.JetStream(), subjects.DeadLetterStream, subjects.DeadLetterPrefix+app.ConsumerName)
	if got := raw.Header.Get(bus.HeaderDeadSubject); got != subject {
		t.Errorf("dead letter of %q, want %q", got, subject)
	}
}

func operations(t *testing.T, h *harness, op, result string) float64 {
	return servicetest.Counter(t, h.env.Metrics, "claw_step_commands_total",
		map[string]string{"consumer": app.ConsumerName, "command": "cmd.database." + op, "result": result})
}

func TestRejectedCreateFailsTheStep(t *testing.T) {
	h := newHarness(t)
	fd := &faultDriver{Driver: h.real, fail: func(int) error {
		return fmt.Errorf("%w: quota exceeded", app.ErrRejected)
	}}
	h.start(t, fd)
	step := h.step(t)
	cmd := &pb.CreateDatabase{Step: step, Plan: "starter"}
	h.send(t, subjects.CmdDatabaseCreate, cmd, step, "")

	ev := failedStep(t, h, step)
	if !strings.Contains(ev.Reason, "quota exceeded") {
		t.Errorf("reason %q does not say why", ev.Reason)
	}
	deadLetter(t, h, subjects.CmdDatabaseCreate)
	if n := count(t, h.env.Bus.JetStream(), subjects.DatabaseCreated); n != 0 {
		t.Errorf("%d database.created events for a rejected create", n)
	}
	if got := operations(t, h, "create", "failed"); got != 1 {
		t.Errorf("claw_step_commands_total{command=cmd.database.create,result=failed} = %v, want 1", got)
	}

	// The saga compensated on database.failed; a replay must not try again
	// and leave a database nobody deletes.
	h.send(t, subjects.CmdDatabaseCreate, cmd, step, "history-replay")
	servicetest.Eventually(t, 30*time.Second, "the replay acknowledged", func() bool {
		return operations(t, h, "create", "replay") == 1
	})
	if fd.Calls() != 1 {
		t.Errorf("driver called %d times, want 1", fd.Calls())
	}
}

func TestTransientFailuresAreRetried(t *testing.T) {
	h := newHarness(t)
	fd := &faultDriver{Driver: h.real, fail: func(call int) error {
		if call <= 2 {
			return errTransient
		}
		return nil
	}}
	h.start(t, fd)
	step := h.step(t)
	h.send(t, subjects.CmdDatabaseCreate, &pb.CreateDatabase{Step: step}, step, "")

	waitMsg(t, h.env.Bus.JetStream(), subjects.Stream, subjects.DatabaseCreated)
	if fd.Calls() != 3 {
		t.Errorf("driver called %d times, want 3", fd.Calls())
	}
	if got := operations(t, h, "create", "retry"); got != 2 {
		t.Errorf("retries counted %v, want 2", got)
	}
	if n := count(t, h.env.Bus.JetStream(), subjects.DatabaseFailed); n != 0 {
		t.Errorf("%d database.failed events for a create that succeeded on retry", n)
	}
}

func TestLastDeliveryFailsTheStep(t *testing.T) {
	h := newHarness(t)
	fd := &faultDriver{Driver: h.real, fail: func(int) error { return errTransient }}
	h.start(t, fd, func(a *app.App) { app.SetRedelivery(a, 3, 10*time.Millisecond) })
	step := h.step(t)
	h.send(t, subjects.CmdDatabaseCreate, &pb.CreateDatabase{Step: step}, step, "")

	failedStep(t, h, step)
	deadLetter(t, h, subjects.CmdDatabaseCreate)
	if fd.Calls() != 3 {
		t.Errorf("driver called %d times, want 3 (MaxDeliver)", fd.Calls())
	}
}

func TestInvalidCommandFailsWithoutTheDriver(t *testing.T) {
	h := newHarness(t)
	fd := &faultDriver{Driver: h.real, fail: func(int) error { return nil }}
	h.start(t, fd)
	step := h.step(t)
	bad := &pb.Step{SagaId: step.SagaId, Name: "database", Attempt: 1} // no customer id
	h.send(t, subjects.CmdDatabaseCreate, &pb.CreateDatabase{Step: bad}, step, "")

	failedStep(t, h, bad)
	deadLetter(t, h, subjects.CmdDatabaseCreate)
	if fd.Calls() != 0 {
		t.Errorf("driver called %d times for an invalid command", fd.Calls())
	}
}

func TestReplayedCommandDoesNothing(t *testing.T) {
	h := newHarness(t)
	fd := &faultDriver{Driver: h.real, fail: func(int) error { return nil }}
	h.start(t, fd)
	step := h.step(t)
	cmd := &pb.CreateDatabase{Step: step}
	h.send(t, subjects.CmdDatabaseCreate, cmd, step, "")
	waitMsg(t, h.env.Bus.JetStream(), subjects.Stream, subjects.DatabaseCreated)
	h.send(t, subjects.CmdDatabaseCreate, cmd, step, "operator-replay-1") // re-published by hand: a new NATS id

	servicetest.Eventually(t, 30*time.Second, "the replay acknowledged", func() bool {
		return operations(t, h, "create", "replay") == 1
	})
	if fd.Calls() != 1 {
		t.Errorf("driver called %d times, want 1", fd.Calls())
	}
	if n := count(t, h.env.Bus.JetStream(), subjects.DatabaseCreated); n != 1 {
		t.Errorf("%d database.created events for one step, want 1", n)
	}
}

func TestReplayAfterDeleteKeepsTheDatabaseDeleted(t *testing.T) {
	h := newHarness(t)
	h.start(t, h.real)
	step := h.step(t)
	create := &pb.CreateDatabase{Step: step}
	h.send(t, subjects.CmdDatabaseCreate, create, step, "")
	waitMsg(t, h.env.Bus.JetStream(), subjects.Stream, subjects.DatabaseCreated)
	h.send(t, subjects.CmdDatabaseDelete, &pb.DeleteDatabase{Step: step}, step, "")
	waitMsg(t, h.env.Bus.JetStream(), subjects.Stream, subjects.DatabaseDeleted)

	// An operator replays the history: the old create must not bring the
	// database back.
	h.send(t, subjects.CmdDatabaseCreate, create, step, "history-replay")
	servicetest.Eventually(t, 30*time.Second, "the replay acknowledged", func() bool {
		return operations(t, h, "create", "replay") == 1
	})
	if _, err := h.env.Secrets.Get(t.Context(), names.DatabaseRef(step.CustomerId)); !errors.Is(err, secrets.ErrNotFound) {
		t.Errorf("after the replay the database URL is back (err %v)", err)
	}
}

func TestDeleteOfAMissingDatabaseSucceeds(t *testing.T) {
	h := newHarness(t)
	h.start(t, h.real)
	step := h.step(t)
	h.send(t, subjects.CmdDatabaseDelete, &pb.DeleteDatabase{Step: step}, step, "")
	raw := waitMsg(t, h.env.Bus.JetStream(), subjects.Stream, subjects.DatabaseDeleted)
	var ev pb.DatabaseDeleted
	if err := bus.Decode(raw.Data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.DatabaseName == "" || ev.Step.GetSagaId() != step.SagaId {
		t.Errorf("database.deleted = %v", &ev)
	}
}
