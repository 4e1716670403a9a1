package store_test

import (
	"context"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// A saga keeps the trace it started in: messages queued later by a cause
// without a span (a deadline, an operator's retry, a restarted coordinator
// reading its outbox) are relayed in that trace; a cause with a span of its
// own (a step's reply) queues its messages in its span.
func TestOutboxContinuesTheSagasTrace(t *testing.T) {
	st := open(t)
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "signup")
	span.End()
	s, _ := domain.Start(domain.Signup{SagaID: "signup-cs_tr", CustomerID: "cus_tr", CheckoutSessionID: "cs_tr", Plan: "pro"}, t0, domain.DefaultPolicy)
	if _, err := st.Create(ctx, s, []store.Message{{SagaID: s.ID, CustomerID: s.CustomerID, Subject: "cmd.database.create", MsgID: "m1", Payload: []byte(`{}`)}}, t0); err != nil {
		t.Fatal(err)
	}
	queue := func(ctx context.Context, id string) {
		t.Helper()
		err := st.Update(ctx, s.ID, t0, func(*domain.Saga) ([]store.Message, bool, error) {
			return []store.Message{{SagaID: s.ID, CustomerID: s.CustomerID, Subject: "cmd.database.create", MsgID: id, Payload: []byte(`{}`)}}, true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	queue(context.Background(), "m2") // a deadline: no span
	rctx, reply := tp.Tracer("t").Start(ctx, "process database.created")
	reply.End()
	queue(rctx, "m3")

	// Relayed from the rows alone, as a restarted coordinator would.
	got := map[string]trace.SpanContext{}
	if _, err := st.Relay(context.Background(), 10, t0.Add(time.Second), each(func(_ context.Context, m store.Message) error {
		got[m.MsgID] = trace.SpanContextFromContext(bus.WithTraceContext(context.Background(), m.TraceContext))
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	want := map[string]trace.SpanID{"m1": span.SpanContext().SpanID(), "m2": span.SpanContext().SpanID(), "m3": reply.SpanContext().SpanID()}
	for id, parent := range want {
		sc := got[id]
		if sc.TraceID() != span.SpanContext().TraceID() || sc.SpanID() != parent {
			t.Errorf("%s relayed in %v, want trace %s under span %s", id, sc, span.SpanContext().TraceID(), parent)
		}
	}
}
