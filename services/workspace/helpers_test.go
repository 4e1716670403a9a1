package workspace_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/workspace"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const waitFor = 20 * time.Second

// fixture is a running workspace service, a stand-in saga that sends it
// commands, and a recorder of everything on the bus.
type fixture struct {
	t      *testing.T
	svc    *service.Env // the workspace service's env (metrics)
	saga   *service.Env // publishes commands; reads secrets
	events *recorder
}

func newFixture(t *testing.T, vars map[string]string) *fixture {
	t.Helper()
	p := servicetest.New(t)
	f := &fixture{t: t, svc: p.Env(t, "workspace", vars), saga: p.Env(t, "saga", nil)}
	f.events = record(t, f.saga.Bus.JetStream())
	servicetest.Start(t, f.svc, workspace.Run)
	return f
}

// customerDB creates a migrated database for customerID and stores its URL
// where the neon service would. It returns a pool on it for assertions.
func (f *fixture) customerDB(customerID string) *pgxpool.Pool {
	f.t.Helper()
	url := pgtest.NewDatabase(f.t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(pool.Close)
	if err := customerdb.Migrate(context.Background(), pool); err != nil {
		f.t.Fatal(err)
	}
	f.putSecret(names.DatabaseRef(customerID), url)
	return pool
}

func (f *fixture) putSecret(ref, value string) {
	f.t.Helper()
	if err := f.saga.Secrets.Put(context.Background(), ref, []byte(value)); err != nil {
		f.t.Fatal(err)
	}
}

// send publishes a command as the saga does.
func (f *fixture) send(subject string, msg proto.Message, step *pb.Step) {
	f.t.Helper()
	_, err := f.saga.Bus.Publish(context.Background(), subject, msg, bus.Envelope{
		MsgID:      fmt.Sprintf("%s-%s-%d", subject, step.GetSagaId(), step.GetAttempt()),
		SagaID:     step.GetSagaId(),
		CustomerID: step.GetCustomerId(),
	})
	if err != nil {
		f.t.Fatal(err)
	}
}

func step(sagaID, customerID string, attempt int32) *pb.Step {
	return &pb.Step{SagaId: sagaID, CustomerId: customerID, Name: "workspace", Attempt: attempt}
}

// recorded is one message seen on a stream.
type recorded struct {
	stream, subject string
	data            []byte
	headers         map[string][]string
}

// recorder keeps every message of the event and dead-letter streams.
type recorder struct {
	mu   sync.Mutex
	msgs []recorded
}

func record(t *testing.T, js jetstream.JetStream) *recorder {
	t.Helper()
	r := &recorder{}
	for _, stream := range []string{subjects.Stream, subjects.DeadLetterStream} {
		cons, err := js.OrderedConsumer(context.Background(), stream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.msgs = append(r.msgs, recorded{stream: stream, subject: m.Subject(), data: m.Data(), headers: m.Headers()})
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cc.Stop)
	}
	return r
}

// all returns the decoded messages on subject for sagaID, in order.
func all[T proto.Message](t *testing.T, r *recorder, subject, sagaID string) []T {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []T
	for _, m := range r.msgs {
		if m.stream != subjects.Stream || m.subject != subject {
			continue
		}
		msg := subjects.New(subject)
		if err := bus.Decode(m.data, msg); err != nil {
			t.Fatalf("decode %s: %v", subject, err)
		}
		v := msg.(T)
		if s, ok := any(v).(interface{ GetStep() *pb.Step }); ok && s.GetStep().GetSagaId() != sagaID {
			continue
		}
		out = append(out, v)
	}
	return out
}

// wait returns the n-th (1-based) message on subject for sagaID.
func wait[T proto.Message](t *testing.T, r *recorder, subject, sagaID string, n int) T {
	t.Helper()
	var got []T
	servicetest.Eventually(t, waitFor, subject+" for "+sagaID, func() bool {
		got = all[T](t, r, subject, sagaID)
		return len(got) >= n
	})
	return got[n-1]
}

// deadLetters counts dead-lettered commands for sagaID.
func (r *recorder) deadLetters(sagaID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m.stream == subjects.DeadLetterStream && contains(m.headers[bus.HeaderSagaID], sagaID) {
			n++
		}
	}
	return n
}

// leaks returns the subjects of messages whose payload or headers contain s.
func (r *recorder) leaks(s string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if strings.Contains(string(m.data), s) {
			out = append(out, m.subject)
		}
		for _, vs := range m.headers {
			for _, v := range vs {
				if strings.Contains(v, s) {
					out = append(out, m.subject+" (header)")
				}
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
