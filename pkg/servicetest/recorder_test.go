package servicetest_test

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// The step helpers filter on the payload's saga, the dead-letter helper on
// the header's, and the stream readers see what the stream holds.
func TestRecorderAndStreamReaders(t *testing.T) {
	env := servicetest.New(t).Env(t, "test", nil)
	js := env.Bus.JetStream()
	rec := servicetest.Record(t, js)
	publish := func(id, sagaID, headerSaga string) {
		t.Helper()
		ev := &pb.WorkspaceBuilt{Step: &pb.Step{SagaId: sagaID, Attempt: 1}}
		if _, err := env.Bus.Publish(t.Context(), subjects.WorkspaceBuilt, ev, bus.Envelope{MsgID: id, SagaID: headerSaga}); err != nil {
			t.Fatal(err)
		}
	}
	publish("1", "a", "a")
	publish("2", "b", "a") // header says a, payload says b: it belongs to b
	publish("3", "a", "a")
	dl := nats.NewMsg(subjects.DeadLetterPrefix + "test")
	dl.Header.Set(bus.HeaderSagaID, "a")
	if _, err := js.PublishMsg(t.Context(), dl); err != nil {
		t.Fatal(err)
	}

	if got := servicetest.WaitStep[pb.WorkspaceBuilt](t, rec, subjects.WorkspaceBuilt, "a", 2, 10*time.Second); got.GetStep().GetSagaId() != "a" {
		t.Errorf("second of a: saga %q", got.GetStep().GetSagaId())
	}
	if n := len(servicetest.Steps[pb.WorkspaceBuilt](t, rec, subjects.WorkspaceBuilt, "b")); n != 1 {
		t.Errorf("%d events of b, want 1", n)
	}
	servicetest.Eventually(t, 10*time.Second, "a dead letter of a", func() bool { return len(rec.DeadLettersOf("a")) == 1 })
	if n := len(rec.DeadLettersOf("b")); n != 0 {
		t.Errorf("%d dead letters of b, want 0", n)
	}

	if n := servicetest.Count(t, js, subjects.Stream, subjects.WorkspaceBuilt); n != 3 {
		t.Errorf("stream holds %d, want 3", n)
	}
	var last pb.WorkspaceBuilt
	servicetest.Last(t, js, subjects.Stream, subjects.WorkspaceBuilt, &last)
	if last.GetStep().GetSagaId() != "a" {
		t.Errorf("last: saga %q, want a", last.GetStep().GetSagaId())
	}
	if m := servicetest.WaitLast(t, js, subjects.DeadLetterStream, subjects.DeadLetterPrefix+"test", 10*time.Second); m.Header.Get(bus.HeaderSagaID) != "a" {
		t.Errorf("last dead letter: saga %q", m.Header.Get(bus.HeaderSagaID))
	}
}
