package health_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/servicetest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/health"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const waitFor = 20 * time.Second

// fixture is a running health service, a stand-in saga that sends it
// commands, and a recorder of every message on the bus.
type fixture struct {
	t      *testing.T
	svc    *service.Env
	saga   *service.Env
	events *recorder
}

func newFixture(t *testing.T, vars map[string]string) *fixture {
	t.Helper()
	p := servicetest.New(t)
	f := &fixture{t: t, svc: p.Env(t, "health", vars), saga: p.Env(t, "saga", nil)}
	f.events = record(t, f.saga.Bus.JetStream())
	servicetest.Start(t, f.svc, health.Run)
	return f
}

// check sends cmd.instance.check as the saga does.
func (f *fixture) check(sagaID, instanceURL string) {
	f.t.Helper()
	st := &pb.Step{SagaId: sagaID, CustomerId: "cus_" + sagaID, Name: "instance", Attempt: 1}
	_, err := f.saga.Bus.Publish(context.Background(), subjects.CmdInstanceCheck,
		&pb.CheckInstance{Step: st, InstanceUrl: instanceURL},
		bus.Envelope{MsgID: fmt.Sprintf("%s-%s-1", subjects.CmdInstanceCheck, sagaID), SagaID: sagaID, CustomerID: st.CustomerId})
	if err != nil {
		f.t.Fatal(err)
	}
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
func all[T interface {
	proto.Message
	GetStep() *pb.Step
}](t *testing.T, r *recorder, subject, sagaID string) []T {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []T
	for _, m := range r.msgs {
		if m.stream != subjects.Stream || m.subject != subject {
			continue
		}
		msg := subjects.New(subject).(T)
		if err := bus.Decode(m.data, msg); err != nil {
			t.Fatalf("decode %s: %v", subject, err)
		}
		if msg.GetStep().GetSagaId() == sagaID {
			out = append(out, msg)
		}
	}
	return out
}

// wait returns the first message on subject for sagaID.
func wait[T interface {
	proto.Message
	GetStep() *pb.Step
}](t *testing.T, r *recorder, subject, sagaID string) T {
	t.Helper()
	var got []T
	servicetest.Eventually(t, waitFor, subject+" for "+sagaID, func() bool {
		got = all[T](t, r, subject, sagaID)
		return len(got) > 0
	})
	return got[0]
}

// deadLetters counts dead-lettered commands for sagaID.
func (r *recorder) deadLetters(sagaID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if m.stream == subjects.DeadLetterStream && m.headers[bus.HeaderSagaID] != nil && m.headers[bus.HeaderSagaID][0] == sagaID {
			n++
		}
	}
	return n
}
