package servicetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// Recorded is one message seen on a stream.
type Recorded struct {
	Stream, Subject string
	Data            []byte
	Headers         map[string][]string
}

// Header returns the first value of header k.
func (m Recorded) Header(k string) string {
	if v := m.Headers[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Recorder keeps every message of the event and dead-letter streams, from
// their beginning, for assertions.
type Recorder struct {
	mu   sync.Mutex
	msgs []Recorded
}

// Record starts recording both streams until the test ends.
func Record(t testing.TB, js jetstream.JetStream) *Recorder {
	t.Helper()
	r := &Recorder{}
	for _, stream := range []string{subjects.Stream, subjects.DeadLetterStream} {
		cons, err := js.OrderedConsumer(context.Background(), stream, jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("servicetest: record %s: %v", stream, err)
		}
		cc, err := cons.Consume(func(m jetstream.Msg) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.msgs = append(r.msgs, Recorded{Stream: stream, Subject: m.Subject(), Data: m.Data(), Headers: m.Headers()})
		})
		if err != nil {
			t.Fatalf("servicetest: record %s: %v", stream, err)
		}
		t.Cleanup(cc.Stop)
	}
	return r
}

// Messages returns the recorded messages on subject (a dead-letter subject
// for the dead-letter stream), optionally only those of sagaID.
func (r *Recorder) Messages(subject, sagaID string) []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Recorded
	for _, m := range r.msgs {
		if m.Subject == subject && (sagaID == "" || m.Header(bus.HeaderSagaID) == sagaID) {
			out = append(out, m)
		}
	}
	return out
}

// DeadLetters returns the recorded dead letters of any consumer.
func (r *Recorder) DeadLetters() []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Recorded
	for _, m := range r.msgs {
		if m.Stream == subjects.DeadLetterStream {
			out = append(out, m)
		}
	}
	return out
}

// All returns every recorded message.
func (r *Recorder) All() []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Recorded(nil), r.msgs...)
}

// Wait waits until at least n messages on subject (of sagaID, if set) are
// recorded and returns them.
func (r *Recorder) Wait(t testing.TB, subject, sagaID string, n int, timeout time.Duration) []Recorded {
	t.Helper()
	var got []Recorded
	Eventually(t, timeout, subject, func() bool {
		got = r.Messages(subject, sagaID)
		return len(got) >= n
	})
	return got
}

// Decode decodes a recorded payload into a T.
func Decode[T any, PT interface {
	*T
	proto.Message
}](t testing.TB, m Recorded) PT {
	t.Helper()
	v := PT(new(T))
	if err := bus.Decode(m.Data, v); err != nil {
		t.Fatalf("decode %s: %v", m.Subject, err)
	}
	return v
}

// DeadLettersOf returns the recorded dead letters of sagaID, from any
// consumer.
func (r *Recorder) DeadLettersOf(sagaID string) []Recorded {
	var out []Recorded
	for _, m := range r.DeadLetters() {
		if m.Header(bus.HeaderSagaID) == sagaID {
			out = append(out, m)
		}
	}
	return out
}

// Stepped is a message that carries the saga step it belongs to: a step
// command or a step's answer.
type Stepped interface {
	proto.Message
	GetStep() *pb.Step
}

// Steps returns the events on subject whose payload step belongs to sagaID,
// decoded into Ts, in the order they were recorded. It filters on the
// payload, not on the saga-id header, so a result published for the wrong
// saga is not counted.
func Steps[T any, PT interface {
	*T
	Stepped
}](t testing.TB, r *Recorder, subject, sagaID string) []PT {
	t.Helper()
	var out []PT
	for _, m := range r.All() {
		if m.Stream != subjects.Stream || m.Subject != subject {
			continue
		}
		if v := Decode[T, PT](t, m); v.GetStep().GetSagaId() == sagaID {
			out = append(out, v)
		}
	}
	return out
}

// WaitStep waits until at least n (n ≥ 1) events on subject for sagaID are
// recorded (see Steps) and returns the n-th.
func WaitStep[T any, PT interface {
	*T
	Stepped
}](t testing.TB, r *Recorder, subject, sagaID string, n int, timeout time.Duration) PT {
	t.Helper()
	var got []PT
	Eventually(t, timeout, fmt.Sprintf("%d %s for %s", n, subject, sagaID), func() bool {
		got = Steps[T, PT](t, r, subject, sagaID)
		return len(got) >= n
	})
	return got[n-1]
}
