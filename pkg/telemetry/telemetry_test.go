package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/telemetry"
)

func TestTracingFromConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		on      bool
		problem string
	}{
		{name: "unset is off", env: nil},
		{name: "none", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}},
		{name: "endpoint alone means otlp", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{name: "traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, on: true},
		{name: "console", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, on: true},
		{name: "disabled wins", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}},
		{name: "otlp without endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, problem: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, problem: "OTEL_TRACES_EXPORTER"},
		{name: "bad endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "jaeger:4318"}, problem: "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{name: "bad sampler ratio", env: map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"}, on: true, problem: "OTEL_TRACES_SAMPLER_ARG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.FromMap(tc.env)
			tr, err := telemetry.TracingFromConfig(context.Background(), cfg, "saga")
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Shutdown(context.Background()) //nolint:errcheck
			if perr := cfg.Err(); tc.problem == "" && perr != nil || tc.problem != "" && (perr == nil || !strings.Contains(perr.Error(), tc.problem)) {
				t.Fatalf("problems: %v, want one naming %q", perr, tc.problem)
			}
			if tc.problem != "" {
				return
			}
			_, span := tr.Provider.Tracer("t").Start(context.Background(), "x")
			defer span.End()
			if span.IsRecording() != tc.on {
				t.Errorf("recording = %v, want %v", span.IsRecording(), tc.on)
			}
		})
	}
}

// Server and client spans say which route was called, never the ids in the
// path or the query string (checkout sessions, tokens); the client carries
// the trace to the server.
func TestHTTPSpansAreRedacted(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	mux := http.NewServeMux()
	var seen string
	mux.HandleFunc("GET /v1/provisioning/{id}", func(w http.ResponseWriter, r *http.Request) {
		seen = r.PathValue("id") + "?" + r.URL.RawQuery
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(telemetry.TraceHandler(mux, tp, "ingress"))
	defer srv.Close()

	client := telemetry.TraceClient(srv.Client(), tp)
	ctx, root := tp.Tracer("t").Start(context.Background(), "root")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/provisioning/cs_test_a1SECRET?token=hunter2", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	root.End()
	if resp.StatusCode != http.StatusNoContent || seen != "cs_test_a1SECRET?token=hunter2" {
		t.Fatalf("the handler saw %q (status %d): the real URL must reach it", seen, resp.StatusCode)
	}
	spans := exp.GetSpans().Snapshots()
	var server, clientSpan sdktrace.ReadOnlySpan
	for _, s := range spans {
		for _, a := range s.Attributes() {
			if v := a.Value.String(); strings.Contains(v, "SECRET") || strings.Contains(v, "hunter2") {
				t.Errorf("span %q attribute %s = %q carries an id or token", s.Name(), a.Key, v)
			}
		}
		if strings.Contains(s.Name(), "SECRET") {
			t.Errorf("span name %q carries an id", s.Name())
		}
		switch s.SpanKind() {
		case trace.SpanKindServer:
			server = s
		case trace.SpanKindClient:
			clientSpan = s
		}
	}
	if server == nil || clientSpan == nil {
		t.Fatalf("spans: %d, want a server and a client span", len(spans))
	}
	if server.Name() != "GET /v1/provisioning/{id}" {
		t.Errorf("server span name %q, want the route pattern", server.Name())
	}
	if server.Parent().SpanID() != clientSpan.SpanContext().SpanID() || server.SpanContext().TraceID() != root.SpanContext().TraceID() {
		t.Error("the server span is not the client span's child in the caller's trace")
	}
}

func TestRedactPath(t *testing.T) {
	for in, want := range map[string]string{
		"/v1/provisioning/cs_test_a1B2c3":  "/v1/provisioning/{id}",
		"/api/chat":                        "/api/chat",
		"/v2/projects/wispy-bar-123/roles": "/v2/projects/{id}/roles",
		"/welcome":                         "/welcome",
		"/x/abcdefghijklmnopqrstuvwxyz":    "/x/{id}",
		"/":                                "/",
	} {
		if got := telemetry.RedactPath(in); got != want {
			t.Errorf("RedactPath(%q) = %q, want %q", in, got, want)
		}
	}
}
