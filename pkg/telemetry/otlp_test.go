package telemetry_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/telemetry"
)

// receiver is an OTLP/HTTP traces endpoint that decodes what it receives
// with the real OTLP protobuf definitions (opentelemetry-proto), strictly:
// an unknown field or a wrong type fails. OTLP's JSON differs from the
// protobuf JSON mapping only in the ids (hex, not base64), which it turns
// back before decoding.
type receiver struct {
	mu       sync.Mutex
	requests []*coltracepb.ExportTraceServiceRequest
	headers  []http.Header
	status   int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want POST /v1/traces application/json", http.StatusBadRequest)
		return
	}
	if rc.status != 0 {
		http.Error(w, "refused", rc.status)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var raw any
	if err := json.Unmarshal(body, &raw); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	hexToBase64(raw)
	fixed, _ := json.Marshal(raw)
	req := &coltracepb.ExportTraceServiceRequest{}
	if err := protojson.Unmarshal(fixed, req); err != nil {
		http.Error(w, "not OTLP: "+err.Error(), http.StatusBadRequest)
		return
	}
	rc.requests = append(rc.requests, req)
	rc.headers = append(rc.headers, r.Header.Clone())
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte("{}"))
}

// hexToBase64 rewrites OTLP JSON's hex ids into protobuf JSON's base64.
func hexToBase64(v any) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && (k == "traceId" || k == "spanId" || k == "parentSpanId") {
				b, err := hex.DecodeString(s)
				if err != nil {
					x[k] = "not hex: " + s
					continue
				}
				x[k] = base64.StdEncoding.EncodeToString(b)
				continue
			}
			hexToBase64(e)
		}
	case []any:
		for _, e := range x {
			hexToBase64(e)
		}
	}
}

func (rc *receiver) spans() []*tracepb.Span {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []*tracepb.Span
	for _, r := range rc.requests {
		for _, rs := range r.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				out = append(out, ss.Spans...)
			}
		}
	}
	return out
}

func TestOTLPExportIsValidOTLP(t *testing.T) {
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := config.FromMap(map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL,
		"OTEL_EXPORTER_OTLP_HEADERS":  "authorization=Bearer%20collector-key,x-tenant=claw",
	})
	tr, err := telemetry.TracingFromConfig(context.Background(), cfg, "saga")
	if err != nil || cfg.Err() != nil {
		t.Fatal(err, cfg.Err())
	}
	tracer := tr.Provider.Tracer("clawdbot.cloud/test", trace.WithInstrumentationVersion("v1"))
	ctx, parent := tracer.Start(context.Background(), "parent", trace.WithSpanKind(trace.SpanKindServer))
	_, child := tracer.Start(ctx, "child", trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attribute.String("s", "v"), attribute.Int64("i", 1<<40), attribute.Float64("f", 0.5), attribute.Bool("b", true),
		attribute.StringSlice("ss", []string{"a", "b"}), attribute.Int64Slice("is", []int64{1, 2}),
	))
	child.AddEvent("retry", trace.WithAttributes(attribute.Int("attempt", 2)))
	child.SetStatus(codes.Error, "step failed")
	child.End()
	parent.SetStatus(codes.Ok, "")
	parent.End()
	if err := tr.Shutdown(context.Background()); err != nil { // flushes the batch
		t.Fatal(err)
	}

	spans := rc.spans()
	if len(spans) != 2 {
		t.Fatalf("received %d spans, want 2", len(spans))
	}
	byName := map[string]*tracepb.Span{}
	for _, s := range spans {
		byName[s.Name] = s
	}
	p, c := byName["parent"], byName["child"]
	if p == nil || c == nil {
		t.Fatalf("spans %v", byName)
	}
	psc, csc := parent.SpanContext(), child.SpanContext()
	pt, ps := psc.TraceID(), psc.SpanID()
	cs := csc.SpanID()
	if string(c.TraceId) != string(pt[:]) || string(c.ParentSpanId) != string(ps[:]) || string(c.SpanId) != string(cs[:]) {
		t.Errorf("ids: child trace %x parent %x span %x; want trace %s parent %s span %s", c.TraceId, c.ParentSpanId, c.SpanId, pt, ps, cs)
	}
	if p.Kind != tracepb.Span_SPAN_KIND_SERVER || c.Kind != tracepb.Span_SPAN_KIND_PRODUCER {
		t.Errorf("kinds %v, %v", p.Kind, c.Kind)
	}
	if p.Status.GetCode() != tracepb.Status_STATUS_CODE_OK || c.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || c.Status.GetMessage() != "step failed" {
		t.Errorf("status %v, %v", p.Status, c.Status)
	}
	attrs := map[string]string{}
	for _, kv := range c.Attributes {
		attrs[kv.Key] = protojson.Format(kv.Value)
	}
	for k, want := range map[string]string{"s": `"v"`, "i": `"1099511627776"`, "f": `0.5`, "b": `true`, "ss": `"a"`, "is": `"2"`} {
		if !strings.Contains(attrs[k], want) {
			t.Errorf("attribute %s = %s, want it to hold %s", k, attrs[k], want)
		}
	}
	if len(c.Events) != 1 || c.Events[0].Name != "retry" || c.EndTimeUnixNano < c.StartTimeUnixNano || c.StartTimeUnixNano == 0 {
		t.Errorf("events %v, times %d..%d", c.Events, c.StartTimeUnixNano, c.EndTimeUnixNano)
	}
	rs := rc.requests[0].ResourceSpans[0]
	var service string
	for _, kv := range rs.Resource.Attributes {
		if kv.Key == "service.name" {
			service = kv.Value.GetStringValue()
		}
	}
	if service != "saga" || rs.ScopeSpans[0].Scope.Name != "clawdbot.cloud/test" || rs.ScopeSpans[0].Scope.Version != "v1" {
		t.Errorf("resource service.name %q, scope %v", service, rs.ScopeSpans[0].Scope)
	}
	if h := rc.headers[0]; h.Get("Authorization") != "Bearer collector-key" || h.Get("X-Tenant") != "claw" {
		t.Errorf("headers %v, want the OTEL_EXPORTER_OTLP_HEADERS ones", h)
	}
}

// A receiver that refuses makes the export fail (the batcher drops the
// batch and reports it), and a bad header setting is a configuration
// problem.
func TestOTLPExportErrors(t *testing.T) {
	rc := &receiver{status: http.StatusUnauthorized}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := config.FromMap(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/v1/traces"})
	tr, err := telemetry.TracingFromConfig(context.Background(), cfg, "saga")
	if err != nil || cfg.Err() != nil {
		t.Fatal(err, cfg.Err())
	}
	var reported []error
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { reported = append(reported, err) }))
	defer otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	_, s := tr.Provider.Tracer("t").Start(context.Background(), "x")
	s.End()
	_ = tr.Shutdown(context.Background())
	if len(reported) != 1 || !strings.Contains(reported[0].Error(), "401") {
		t.Errorf("export to a refusing receiver reported %v, want its 401", reported)
	}
	for _, env := range []map[string]string{
		{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_EXPORTER_OTLP_HEADERS": "novalue"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_EXPORTER_OTLP_TIMEOUT": "0"},
	} {
		cfg := config.FromMap(env)
		if _, err := telemetry.TracingFromConfig(context.Background(), cfg, "saga"); err != nil || cfg.Err() == nil {
			t.Errorf("%v: err %v, problems %v; want a configuration problem", env, err, cfg.Err())
		}
	}
}
