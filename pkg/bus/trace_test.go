package bus_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/natstest"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

// tracedBus connects a bus that records its spans with tp.
func tracedBus(t testing.TB, url, name string, tp trace.TracerProvider) *bus.Bus {
	t.Helper()
	b, err := bus.Connect(context.Background(), url, name, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), bus.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	if err := b.Setup(context.Background(), bus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	return b
}

// lastHeaders returns the headers of the last message stored on subject.
func lastHeaders(t *testing.T, b *bus.Bus, subject string) map[string][]string {
	t.Helper()
	s, err := b.JetStream().Stream(context.Background(), subjects.Stream)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetLastMsgForSubject(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return m.Header
}

// A handler runs in a consumer span that is the child of the publish, and
// what it publishes carries the same trace on: event, command and reply are
// one trace across two services.
func TestTraceCrossesTheBus(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	url := natstest.URL(t)
	ingress := tracedBus(t, url, "ingress", tp)
	saga := tracedBus(t, url, "saga", tp)

	ctx, root := tp.Tracer("test").Start(context.Background(), "webhook")
	if _, err := ingress.Publish(ctx, subjects.CustomerSignedUp, signup("evt_t"), bus.Envelope{MsgID: "evt_t"}); err != nil {
		t.Fatal(err)
	}
	root.End()
	want := root.SpanContext().TraceID()

	handled := make(chan trace.SpanContext, 1)
	r := bus.NewRouter()
	bus.Handle(r, subjects.CustomerSignedUp, func(ctx context.Context, e *pb.CustomerSignedUp) error {
		step := &pb.Step{SagaId: "s1", CustomerId: e.GetCustomerId(), Name: "database", Attempt: 1}
		if _, err := saga.Publish(ctx, subjects.CmdDatabaseCreate, &pb.CreateDatabase{Step: step, Plan: "pro"}, bus.Envelope{MsgID: "cmd-s1"}); err != nil {
			return err
		}
		handled <- trace.SpanContextFromContext(ctx)
		return nil
	})
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- saga.Run(rctx, bus.ConsumerConfig{Name: "saga"}, r) }()
	var inHandler trace.SpanContext
	select {
	case inHandler = <-handled:
	case <-time.After(10 * time.Second):
		t.Fatal("handler never ran")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	if inHandler.TraceID() != want {
		t.Errorf("handler's trace %s, want the webhook's %s", inHandler.TraceID(), want)
	}
	for _, subject := range []string{subjects.CustomerSignedUp, subjects.CmdDatabaseCreate} {
		if got := bus.TraceID(lastHeaders(t, saga, subject)); got != want.String() {
			t.Errorf("%s carries trace %q, want %s", subject, got, want)
		}
	}
	spans := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range exp.GetSpans().Snapshots() {
		spans[s.Name()] = s
	}
	pub, proc, cmd := spans["publish "+subjects.CustomerSignedUp], spans["process "+subjects.CustomerSignedUp], spans["publish "+subjects.CmdDatabaseCreate]
	if pub == nil || proc == nil || cmd == nil {
		t.Fatalf("spans recorded: %v", keys(spans))
	}
	if proc.Parent().SpanID() != pub.SpanContext().SpanID() || proc.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("consumer span's parent %s, want the producer span %s", proc.Parent().SpanID(), pub.SpanContext().SpanID())
	}
	if cmd.Parent().SpanID() != proc.SpanContext().SpanID() {
		t.Errorf("the command's publish span is not a child of the handler's span")
	}
	for _, a := range pub.Attributes() {
		if a.Key == "messaging.destination.name" && a.Value.AsString() != subjects.CustomerSignedUp {
			t.Errorf("destination attribute %q", a.Value.AsString())
		}
	}
}

// With tracing off (the no-op provider) nothing is recorded, yet a trace
// context that came in with a message is carried on by what its handler
// publishes, so a traced service downstream still joins the trace.
func TestTraceIsCarriedWithTracingOff(t *testing.T) {
	url := natstest.URL(t)
	b := tracedBus(t, url, "test", noop.NewTracerProvider())
	tp := sdktrace.NewTracerProvider()
	ctx, root := tp.Tracer("test").Start(context.Background(), "upstream")
	root.End()
	if _, err := b.Publish(ctx, subjects.CustomerSignedUp, signup("evt_off"), bus.Envelope{MsgID: "evt_off"}); err != nil {
		t.Fatal(err)
	}
	if got := bus.TraceID(lastHeaders(t, b, subjects.CustomerSignedUp)); got != root.SpanContext().TraceID().String() {
		t.Errorf("traceparent with tracing off carries %q, want %s", got, root.SpanContext().TraceID())
	}
	if _, err := b.Publish(context.Background(), subjects.CustomerSignedUp, signup("evt_none"), bus.Envelope{MsgID: "evt_none"}); err != nil {
		t.Fatal(err)
	}
	if h := lastHeaders(t, b, subjects.CustomerSignedUp); len(h[bus.HeaderTraceParent]) != 0 {
		t.Errorf("a message published outside any trace carries traceparent %v", h[bus.HeaderTraceParent])
	}
}

// A stored trace context continues the trace it was taken from; an empty or
// damaged one is ignored.
func TestTraceContextRoundTrip(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("test").Start(context.Background(), "saga")
	span.End()
	tc := bus.TraceContext(ctx)
	if tc == "" {
		t.Fatal("no trace context for a live span")
	}
	got := trace.SpanContextFromContext(bus.WithTraceContext(context.Background(), tc))
	if got.TraceID() != span.SpanContext().TraceID() || got.SpanID() != span.SpanContext().SpanID() || !got.IsRemote() {
		t.Errorf("restored %v, want remote %v", got, span.SpanContext())
	}
	if bus.TraceContext(context.Background()) != "" {
		t.Error("a context without a span has a trace context")
	}
	for _, bad := range []string{"", "{", `{"traceparent":"00-zz"}`} {
		if sc := trace.SpanContextFromContext(bus.WithTraceContext(context.Background(), bad)); sc.IsValid() {
			t.Errorf("WithTraceContext(%q) = %v, want none", bad, sc)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// BenchmarkPublishConsume is the cost of tracing on the bus: each operation
// publishes an event (waiting for its PubAck) and has a consumer handle it,
// with tracing off (the no-op provider) and on (every span sampled and
// batched to an exporter that discards them).
func BenchmarkPublishConsume(b *testing.B) {
	url := natstest.URL(b)
	runs := 0
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"off", noop.NewTracerProvider()},
		{"on", sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}))},
	} {
		b.Run("tracing="+c.name, func(b *testing.B) {
			// Message ids unique to this run: -count repeats it within the
			// stream's duplicate window, which would drop repeated ids.
			runs++
			run := fmt.Sprintf("%s-%d", c.name, runs)
			bb := tracedBus(b, url, "bench-"+c.name, c.tp)
			got := make(chan struct{}, 1024)
			r := bus.NewRouter()
			bus.Handle(r, subjects.CustomerSignedUp, func(context.Context, *pb.CustomerSignedUp) error {
				got <- struct{}{}
				return nil
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- bb.Run(ctx, bus.ConsumerConfig{Name: "bench-" + c.name, DeliverNew: true, Workers: 1}, r)
			}()
			// Wait for the consumer: a first message must arrive.
			waitHandled(b, bb, got, "warm-"+run)
			pctx, root := c.tp.Tracer("bench").Start(context.Background(), "bench")
			b.ResetTimer()
			for i := range b.N {
				id := fmt.Sprintf("%s-%d-%d", run, b.N, i)
				if _, err := bb.Publish(pctx, subjects.CustomerSignedUp, signup(id), bus.Envelope{MsgID: id}); err != nil {
					b.Fatal(err)
				}
				<-got
			}
			b.StopTimer()
			root.End()
			cancel()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

func waitHandled(b *testing.B, bb *bus.Bus, got <-chan struct{}, id string) {
	b.Helper()
	deadline := time.After(10 * time.Second)
	for i := 0; ; i++ {
		msgID := fmt.Sprintf("%s-%d", id, i)
		if _, err := bb.Publish(context.Background(), subjects.CustomerSignedUp, signup(msgID), bus.Envelope{MsgID: msgID}); err != nil {
			b.Fatal(err)
		}
		select {
		case <-got:
			// Earlier warm-up messages may still arrive: let them.
			for {
				select {
				case <-got:
				case <-time.After(300 * time.Millisecond):
					return
				}
			}
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			b.Fatal("consumer never started")
		}
	}
}

// discard is a span exporter that drops what it is given.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }
