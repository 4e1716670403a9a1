package bus_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// memJournal is a bus.Journal in memory.
type memJournal struct {
	mu   sync.Mutex
	keys map[string]bool
}

func (j *memJournal) Done(_ context.Context, key string) (bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.keys[key], nil
}

func (j *memJournal) Record(_ context.Context, key string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.keys == nil {
		j.keys = map[string]bool{}
	}
	j.keys[key] = true
	return nil
}

// stepFixture is a step worker for cmd.database.create on a real bus, whose
// handler answers with answer(call).
type stepFixture struct {
	b       *bus.Bus
	reg     *prometheus.Registry
	journal *memJournal

	mu    sync.Mutex
	calls int
}

const testMaxDeliver = 3

func startWorker(t *testing.T, answer func(ctx context.Context, call int) (*pb.DatabaseCreated, error), opts ...bus.StepOption) *stepFixture {
	t.Helper()
	f := &stepFixture{b: newBus(t), reg: prometheus.NewRegistry(), journal: &memJournal{}}
	w, err := bus.NewStepWorker(bus.StepConfig{
		Name: "steps", Bus: f.b, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: f.reg,
		Failed: subjects.DatabaseFailed, Journal: f.journal,
		Permanent: func(err error) bool { return errors.Is(err, errRejected) },
	})
	if err != nil {
		t.Fatal(err)
	}
	bus.HandleStep(w, subjects.CmdDatabaseCreate, subjects.DatabaseCreated,
		func(ctx context.Context, cmd *pb.CreateDatabase) (*pb.DatabaseCreated, error) {
			f.mu.Lock()
			f.calls++
			n := f.calls
			f.mu.Unlock()
			a, err := answer(ctx, n)
			if a != nil {
				a.Step = cmd.GetStep()
			}
			return a, err
		}, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- f.b.Run(ctx, bus.ConsumerConfig{Name: "steps", MaxDeliver: testMaxDeliver,
			RetryBase: 5 * time.Millisecond, RetryMax: 10 * time.Millisecond}, w.Router())
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return f
}

var errRejected = errors.New("rejected")

func (f *stepFixture) send(t *testing.T, step *pb.Step, msgID string) {
	t.Helper()
	if _, err := f.b.Publish(context.Background(), subjects.CmdDatabaseCreate, &pb.CreateDatabase{Step: step},
		bus.Envelope{MsgID: msgID}); err != nil {
		t.Fatal(err)
	}
}

func (f *stepFixture) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// result is claw_step_commands_total of the test command with result.
func (f *stepFixture) result(t *testing.T, result string) float64 {
	t.Helper()
	return servicetest.Counter(t, f.reg, "claw_step_commands_total",
		map[string]string{"consumer": "steps", "command": subjects.CmdDatabaseCreate, "result": result})
}

// last waits for the last message on subject in stream.
func last(t *testing.T, b *bus.Bus, stream, subject string) *jetstream.RawStreamMsg {
	t.Helper()
	return servicetest.WaitLast(t, b.JetStream(), stream, subject, 20*time.Second)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	servicetest.Eventually(t, 20*time.Second, what, cond)
}

func testStep() *pb.Step {
	return &pb.Step{SagaId: "signup-cs_1", CustomerId: "cus_1", Name: "database", Attempt: 2}
}

func TestStepAnswersOnceAndJournals(t *testing.T) {
	f := startWorker(t, func(context.Context, int) (*pb.DatabaseCreated, error) {
		return &pb.DatabaseCreated{DatabaseName: "db1"}, nil
	})
	f.send(t, testStep(), "cmd-1")
	raw := last(t, f.b, subjects.Stream, subjects.DatabaseCreated)
	if got, want := raw.Header.Get("Nats-Msg-Id"), "database.created-signup-cs_1-database-2"; got != want {
		t.Errorf("answer message id %q, want %q", got, want)
	}
	if got := raw.Header.Get(bus.HeaderSagaID); got != "signup-cs_1" {
		t.Errorf("saga header %q", got)
	}
	var ev pb.DatabaseCreated
	if err := bus.Decode(raw.Data, &ev); err != nil || ev.GetStep().GetSagaId() != "signup-cs_1" || ev.GetDatabaseName() != "db1" {
		t.Errorf("answer %v (%v)", &ev, err)
	}

	// Replayed by hand with a new message id once the command is journaled
	// (the answer is published just before the journal records it; CI
	// once sent the replay in between): the journal acknowledges it.
	eventually(t, "the command to be carried out", func() bool { return f.result(t, "ok") == 1 })
	f.send(t, testStep(), "cmd-1-replayed")
	eventually(t, "the replay", func() bool { return f.result(t, "replay") == 1 })
	if n := f.callCount(); n != 1 {
		t.Errorf("handler called %d times, want 1", n)
	}
	if got := f.result(t, "ok"); got != 1 {
		t.Errorf("ok = %v, want 1", got)
	}
}

func TestStepFailures(t *testing.T) {
	tests := []struct {
		name       string
		answer     func(context.Context, int) (*pb.DatabaseCreated, error)
		step       *pb.Step
		opts       []bus.StepOption
		wantCalls  int
		wantFailed string // reason substring; "" when no failure event is wanted
		journaled  bool
	}{{
		name:       "permanent by classification",
		answer:     func(context.Context, int) (*pb.DatabaseCreated, error) { return nil, errRejected },
		step:       testStep(),
		wantCalls:  1,
		wantFailed: "rejected",
	}, {
		name:       "retryable until the last delivery",
		answer:     func(context.Context, int) (*pb.DatabaseCreated, error) { return nil, errors.New("connection reset") },
		step:       testStep(),
		wantCalls:  testMaxDeliver,
		wantFailed: "gave up after 3 attempts: connection reset",
	}, {
		name:       "invalid command",
		answer:     func(context.Context, int) (*pb.DatabaseCreated, error) { return &pb.DatabaseCreated{}, nil },
		step:       &pb.Step{SagaId: "signup-cs_1", Name: "database", Attempt: 2},
		wantFailed: "no customer_id",
	}, {
		name: "without a failure event",
		answer: func(context.Context, int) (*pb.DatabaseCreated, error) {
			return nil, bus.Permanent(errors.New("gone wrong"))
		},
		step:      testStep(),
		opts:      []bus.StepOption{bus.WithoutFailedEvent()},
		wantCalls: 1,
	}, {
		name:       "journaled failure",
		answer:     func(context.Context, int) (*pb.DatabaseCreated, error) { return nil, errRejected },
		step:       testStep(),
		opts:       []bus.StepOption{bus.JournalFailure()},
		wantCalls:  1,
		wantFailed: "rejected",
		journaled:  true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := startWorker(t, tt.answer, tt.opts...)
			f.send(t, tt.step, "cmd-1")
			dead := last(t, f.b, subjects.DeadLetterStream, subjects.DeadLetterPrefix+"steps")
			if tt.wantFailed != "" {
				raw := last(t, f.b, subjects.Stream, subjects.DatabaseFailed)
				var ev pb.StepFailed
				if err := bus.Decode(raw.Data, &ev); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(ev.GetReason(), tt.wantFailed) || ev.GetStep().GetSagaId() != "signup-cs_1" {
					t.Errorf("database.failed = %v, want reason with %q", &ev, tt.wantFailed)
				}
				if got, want := raw.Header.Get("Nats-Msg-Id"), "database.failed-signup-cs_1-database-2"; got != want {
					t.Errorf("failure message id %q, want %q", got, want)
				}
			} else if n := count(t, f.b, subjects.DatabaseFailed); n != 0 {
				t.Errorf("%d database.failed, want none", n)
			}
			if got := dead.Header.Get(bus.HeaderDeadSubject); got != subjects.CmdDatabaseCreate {
				t.Errorf("dead letter of %q", got)
			}
			if n := f.callCount(); n != tt.wantCalls {
				t.Errorf("handler called %d times, want %d", n, tt.wantCalls)
			}
			if got := f.result(t, "failed"); got != 1 {
				t.Errorf("failed = %v, want 1", got)
			}
			if done, _ := f.journal.Done(context.Background(), bus.JournalKey(subjects.CmdDatabaseCreate, tt.step)); done != tt.journaled {
				t.Errorf("journaled = %v, want %v", done, tt.journaled)
			}
		})
	}
}

// A handler with nothing to answer is acknowledged and publishes nothing.
func TestStepWithoutAnswer(t *testing.T) {
	f := startWorker(t, func(context.Context, int) (*pb.DatabaseCreated, error) { return nil, nil })
	f.send(t, testStep(), "cmd-1")
	eventually(t, "the command handled", func() bool { return f.result(t, "ok") == 1 })
	if n := count(t, f.b, subjects.DatabaseCreated); n != 0 {
		t.Errorf("%d database.created for a nil answer", n)
	}
}

func count(t *testing.T, b *bus.Bus, subject string) int {
	t.Helper()
	return servicetest.Count(t, b.JetStream(), subjects.Stream, subject)
}
