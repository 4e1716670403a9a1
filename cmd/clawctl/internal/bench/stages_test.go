package bench

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// TestStagesTellWhereAPhaseSpentItsTime: spans recorded through a real
// tracer provider come back by service and name (runtime ports folded into
// one stage), with their count, durations and ends relative to the phase,
// in the order they end; spans started before the phase are left out, and
// the table leaves out stages of fewer spans than asked.
func TestStagesTellWhereAPhaseSpentItsTime(t *testing.T) {
	st := NewStages()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(st))
	defer tp.Shutdown(context.Background()) //nolint:errcheck // nothing is exported
	tr := tp.Tracer("test")
	phase := time.Now()
	record := func(service, name string, start, end time.Duration) {
		opts := []trace.SpanStartOption{trace.WithTimestamp(phase.Add(start))}
		if service != "" {
			opts = append(opts, trace.WithAttributes(attribute.String("claw.service", service)))
		}
		_, sp := tr.Start(context.Background(), name, opts...)
		sp.End(trace.WithTimestamp(phase.Add(end)))
	}
	// Before the phase: not counted.
	record("railway", "process cmd.compute.provision", -time.Second, 10*time.Millisecond)
	// Four provisions of 10, 20, 30 and 400 ms ending at 110-500 ms.
	for _, d := range []time.Duration{10, 20, 30, 400} {
		record("railway", "process cmd.compute.provision", 100*time.Millisecond, (100+d)*time.Millisecond)
	}
	// Probes of two runtimes on their own ports: one stage.
	record("", "GET 127.0.0.1:40001", 0, 5*time.Millisecond)
	record("", "GET 127.0.0.1:40002", 0, 7*time.Millisecond)
	// The same name in another service is another stage.
	record("health", "process cmd.compute.provision", 600*time.Millisecond, 601*time.Millisecond)

	got := st.Table(phase)
	if len(got) != 3 {
		t.Fatalf("%d stages, want 3: %+v", len(got), got)
	}
	probe, provision, health := got[0], got[1], got[2]
	if probe.Name != "GET 127.0.0.1:*" || probe.Service != "" || probe.Count != 2 || probe.Max != 7*time.Millisecond {
		t.Errorf("probes: %+v", probe)
	}
	want := Stage{Service: "railway", Name: "process cmd.compute.provision", Count: 4,
		EndP50: 120 * time.Millisecond, EndMax: 500 * time.Millisecond,
		P50: 20 * time.Millisecond, P90: 400 * time.Millisecond, Max: 400 * time.Millisecond, Total: 460 * time.Millisecond}
	if provision != want {
		t.Errorf("provisions:\n got %+v\nwant %+v", provision, want)
	}
	if health.Service != "health" || health.Count != 1 {
		t.Errorf("the other service's stage: %+v", health)
	}

	var b strings.Builder
	if err := WriteStages(&b, got, 2); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[1], "GET 127.0.0.1:*") ||
		!strings.Contains(lines[2], "railway") || !strings.HasSuffix(lines[2], " 460") {
		t.Errorf("table:\n%s", b.String())
	}

	st.Reset()
	if got := st.Table(phase); len(got) != 0 {
		t.Errorf("after Reset: %+v", got)
	}
}
