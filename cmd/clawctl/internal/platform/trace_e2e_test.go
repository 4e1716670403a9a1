package platform_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"clawdbot.cloud/cmd/clawctl/internal/e2e"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/telemetry"
	"clawdbot.cloud/proto/subjects"
)

// A signup is one trace: the webhook's server span is its root, and every
// message the signup causes — the event, the saga's commands and step
// events, every step's reply, instance.ready, saga.completed — carries
// that trace id in its traceparent header, with a producer and a consumer
// span for each. No span names or attributes carry the checkout session id
// or the API key.
func TestSignupIsOneTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.NewTracerProvider("platform", exp, nil)
	h := &harness{dir: e2e.TraversableDir(t), dbURL: pgtest.NewDatabase(t), tracer: tp}
	h.up(t)
	t.Cleanup(func() { h.down(t) })

	res := h.signup(t, "starter")
	// The messages that follow ready (the customer's state change, the
	// welcome notice) land just after it; every message in the stream is
	// the signup's.
	var msgs []jetstream.Msg
	for deadline := time.Now().Add(15 * time.Second); ; {
		msgs = h.messages(t)
		n := 0
		for _, m := range msgs {
			if m.Subject() == subjects.CustomerStateChanged || m.Subject() == subjects.CustomerNotice {
				n++
			}
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no customer.state_changed and customer.notice after ready: %d messages", len(msgs))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	traceIDs := map[string][]string{}
	for _, m := range msgs {
		id := bus.TraceID(m.Headers())
		traceIDs[id] = append(traceIDs[id], m.Subject())
	}
	if len(traceIDs) != 1 || traceIDs[""] != nil {
		t.Fatalf("the signup's %d messages are in %d traces: %v", len(msgs), len(traceIDs), traceIDs)
	}
	var traceID string
	for id := range traceIDs {
		traceID = id
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		seen[m.Subject()] = true
	}
	for _, s := range []string{subjects.CustomerSignedUp, subjects.CmdDatabaseCreate, subjects.DatabaseCreated,
		subjects.CmdWorkspaceBuild, subjects.WorkspaceBuilt, subjects.CmdComputeProvision, subjects.ComputeProvisioned,
		subjects.CmdInstanceCheck, subjects.InstanceReady, subjects.SagaCompleted} {
		if !seen[s] {
			t.Errorf("no %s message in the stream", s)
		}
	}

	spans := map[string][]sdktrace.ReadOnlySpan{}
	var inTrace []sdktrace.ReadOnlySpan
	for _, s := range exp.GetSpans().Snapshots() {
		if s.SpanContext().TraceID().String() != traceID {
			continue
		}
		inTrace = append(inTrace, s)
		spans[s.Name()] = append(spans[s.Name()], s)
		secret := []string{res.Checkout.SessionID, res.Status.APIKey}
		for _, a := range s.Attributes() {
			for _, v := range secret {
				if v != "" && strings.Contains(a.Value.String(), v) {
					t.Errorf("span %q attribute %s carries a secret or an id that grants access", s.Name(), a.Key)
				}
			}
		}
		for _, v := range secret {
			if v != "" && strings.Contains(s.Name(), v) {
				t.Errorf("span name %q carries a secret or an id that grants access", s.Name())
			}
		}
	}
	var roots []string
	byID := map[trace.SpanID]bool{}
	for _, s := range inTrace {
		byID[s.SpanContext().SpanID()] = true
	}
	for _, s := range inTrace {
		if !s.Parent().IsValid() {
			roots = append(roots, s.Name())
			if s.SpanKind() != trace.SpanKindServer {
				t.Errorf("the trace's root %q is a %v span, want the webhook's server span", s.Name(), s.SpanKind())
			}
		} else if !byID[s.Parent().SpanID()] {
			t.Errorf("span %q has a parent missing from the trace", s.Name())
		}
	}
	if len(roots) != 1 {
		t.Errorf("trace roots %v, want one (the webhook)", roots)
	}
	for subject := range seen {
		if len(spans["publish "+subject]) == 0 {
			t.Errorf("no producer span for %s in the trace", subject)
		}
	}
	for _, s := range []string{subjects.CustomerSignedUp, subjects.CmdDatabaseCreate, subjects.DatabaseCreated,
		subjects.CmdWorkspaceBuild, subjects.WorkspaceBuilt, subjects.CmdComputeProvision, subjects.ComputeProvisioned,
		subjects.CmdInstanceCheck, subjects.InstanceReady} {
		if len(spans["process "+s]) == 0 {
			t.Errorf("no consumer span for %s in the trace", s)
		}
	}
	t.Logf("one trace %s: %d spans across %d messages (%d subjects), root %v", traceID, len(inTrace), len(msgs), len(seen), roots)
}
