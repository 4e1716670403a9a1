package bus

import (
	"context"
	"encoding/json"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Trace context travels in every message's headers as W3C Trace Context
// (`traceparent`, and `tracestate` when set), whatever the process's global
// propagator: the bus's wire format does not depend on how a service
// configured OpenTelemetry. A publish starts a producer span and injects its
// context; a consumer extracts it and runs the handler inside a consumer
// span that is its child, so the handler's own publishes (commands, replies,
// failure events) continue the same trace. With tracing off (the global
// provider is the default no-op) no span is recorded, yet a context that
// arrived in a message is still carried on to the next one.
const (
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// tracerName is the instrumentation scope of the bus's spans.
const tracerName = "clawdbot.cloud/pkg/bus"

var propagator = propagation.TraceContext{}

// natsCarrier adapts message headers to the propagation API. NATS headers
// are case-sensitive on the wire, so keys are used as the W3C spec spells
// them (lower case), not canonicalised.
type natsCarrier nats.Header

func (c natsCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c natsCarrier) Set(key, value string) { c[key] = []string{value} }

func (c natsCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// tracer returns the tracer of the bus's spans: from the Bus's provider,
// the process's global one unless WithTracerProvider set another.
func (b *Bus) tracer() trace.Tracer {
	tp := b.tp
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	return tp.Tracer(tracerName)
}

// startPublish starts the producer span of a publish on subject and writes
// its context into h. The caller ends the span.
func (b *Bus) startPublish(ctx context.Context, subject, msgID string, h nats.Header) (context.Context, trace.Span) {
	ctx, span := b.tracer().Start(ctx, "publish "+subject,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", msgID),
			attribute.String("claw.service", b.service),
		))
	propagator.Inject(ctx, natsCarrier(h))
	return ctx, span
}

// startConsume extracts the trace context of a delivered message and starts
// the consumer span the handler runs in. The caller ends the span.
func (b *Bus) startConsume(ctx context.Context, consumer, subject string, h nats.Header, attempt int) (context.Context, trace.Span) {
	if h != nil {
		ctx = propagator.Extract(ctx, natsCarrier(h))
	}
	return b.tracer().Start(ctx, "process "+subject,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.consumer.group.name", consumer),
			attribute.Int("messaging.nats.delivery_attempt", attempt),
			attribute.String("claw.service", b.service),
		))
}

// endSpan records err (if any) as the span's status and ends it.
func endSpan(span trace.Span, err error, outcome string) {
	if outcome != "" {
		span.SetAttributes(attribute.String("claw.outcome", outcome))
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// TraceContext returns the W3C trace context of ctx's span encoded for
// storage (a small JSON object of traceparent and tracestate), or "" when
// ctx carries no valid span context. A saga stores it so that messages it
// publishes later, from its outbox or after a restart, continue the trace.
func TraceContext(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	b, err := json.Marshal(map[string]string(c))
	if err != nil {
		return ""
	}
	return string(b)
}

// WithTraceContext returns ctx continuing the stored trace context tc (from
// TraceContext). An empty or unreadable tc leaves ctx as it is: a lost trace
// never stops a message.
func WithTraceContext(ctx context.Context, tc string) context.Context {
	if tc == "" {
		return ctx
	}
	var c map[string]string
	if err := json.Unmarshal([]byte(tc), &c); err != nil {
		return ctx
	}
	return propagator.Extract(ctx, propagation.MapCarrier(c))
}

// TraceID returns the trace id a message's headers carry ("" without one).
func TraceID(h nats.Header) string {
	sc := trace.SpanContextFromContext(propagator.Extract(context.Background(), natsCarrier(h)))
	if !sc.IsValid() {
		return ""
	}
	return sc.TraceID().String()
}
