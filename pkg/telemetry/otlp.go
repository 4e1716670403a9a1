package telemetry

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// otlpExporter sends spans to an OTLP/HTTP receiver in OTLP's JSON encoding
// (POST <endpoint>/v1/traces, Content-Type application/json), which every
// OTLP receiver accepts (the OpenTelemetry Collector, Jaeger v2, Tempo).
//
// It replaces the SDK's otlptracehttp exporter, whose shared configuration
// package links gRPC: that alone added about 9 MB to every process's idle
// RSS, and each customer's runtime is one such process (17 MB idle without
// it). A failed export is reported to the batch processor, which drops the
// batch: traces are best-effort and never hold a request up.
type otlpExporter struct {
	url     string
	headers http.Header
	client  *http.Client
	closed  atomic.Bool
}

// newOTLPExporter exports to traces, the receiver's traces URL, with the
// extra headers (OTEL_EXPORTER_OTLP_HEADERS: credentials of a hosted
// collector) and the per-export timeout.
func newOTLPExporter(traces string, headers http.Header, timeout time.Duration) *otlpExporter {
	return &otlpExporter{url: traces, headers: headers, client: &http.Client{Timeout: timeout}}
}

// ExportSpans implements sdktrace.SpanExporter.
func (e *otlpExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if e.closed.Load() || len(spans) == 0 {
		return nil
	}
	body, err := json.Marshal(otlpRequest(spans))
	if err != nil {
		return fmt.Errorf("otlp: encode spans: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	for k, vs := range e.headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client.Do(req)
	if err != nil {
		return fmt.Errorf("otlp: export to %s: %w", redactURL(e.url), err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("otlp: %s answered %s: %s", redactURL(e.url), resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// Shutdown implements sdktrace.SpanExporter: later exports do nothing.
func (e *otlpExporter) Shutdown(context.Context) error {
	e.closed.Store(true)
	e.client.CloseIdleConnections()
	return nil
}

// parseOTLPHeaders reads OTEL_EXPORTER_OTLP_HEADERS: comma-separated
// key=value pairs, values URL-encoded (the OpenTelemetry specification).
func parseOTLPHeaders(s string) (http.Header, error) {
	h := http.Header{}
	for _, pair := range strings.Split(s, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, errors.New("want key=value pairs separated by commas")
		}
		val, err := url.QueryUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", k, err)
		}
		h.Add(k, val)
	}
	return h, nil
}

// The OTLP JSON shapes (opentelemetry-proto, trace/v1 and common/v1, in the
// protobuf JSON mapping with OTLP's exceptions: trace and span ids in hex,
// enums as numbers). 64-bit integers are strings, as the mapping wants.
type (
	otlpTraces struct {
		ResourceSpans []otlpResourceSpans `json:"resourceSpans"`
	}
	otlpResourceSpans struct {
		Resource   otlpResource     `json:"resource"`
		ScopeSpans []otlpScopeSpans `json:"scopeSpans"`
		SchemaURL  string           `json:"schemaUrl,omitempty"`
	}
	otlpResource struct {
		Attributes []otlpKeyValue `json:"attributes"`
	}
	otlpScopeSpans struct {
		Scope     otlpScope  `json:"scope"`
		Spans     []otlpSpan `json:"spans"`
		SchemaURL string     `json:"schemaUrl,omitempty"`
	}
	otlpScope struct {
		Name    string `json:"name"`
		Version string `json:"version,omitempty"`
	}
	otlpSpan struct {
		TraceID                string         `json:"traceId"`
		SpanID                 string         `json:"spanId"`
		TraceState             string         `json:"traceState,omitempty"`
		ParentSpanID           string         `json:"parentSpanId,omitempty"`
		Name                   string         `json:"name"`
		Kind                   int            `json:"kind"`
		StartTimeUnixNano      string         `json:"startTimeUnixNano"`
		EndTimeUnixNano        string         `json:"endTimeUnixNano"`
		Attributes             []otlpKeyValue `json:"attributes,omitempty"`
		DroppedAttributesCount int            `json:"droppedAttributesCount,omitempty"`
		Events                 []otlpEvent    `json:"events,omitempty"`
		DroppedEventsCount     int            `json:"droppedEventsCount,omitempty"`
		Links                  []otlpLink     `json:"links,omitempty"`
		DroppedLinksCount      int            `json:"droppedLinksCount,omitempty"`
		Status                 otlpStatus     `json:"status"`
	}
	otlpEvent struct {
		TimeUnixNano string         `json:"timeUnixNano"`
		Name         string         `json:"name"`
		Attributes   []otlpKeyValue `json:"attributes,omitempty"`
	}
	otlpLink struct {
		TraceID    string         `json:"traceId"`
		SpanID     string         `json:"spanId"`
		TraceState string         `json:"traceState,omitempty"`
		Attributes []otlpKeyValue `json:"attributes,omitempty"`
	}
	otlpStatus struct {
		Code    int    `json:"code,omitempty"`
		Message string `json:"message,omitempty"`
	}
	otlpKeyValue struct {
		Key   string    `json:"key"`
		Value otlpValue `json:"value"`
	}
	otlpValue struct {
		StringValue *string         `json:"stringValue,omitempty"`
		BoolValue   *bool           `json:"boolValue,omitempty"`
		IntValue    *string         `json:"intValue,omitempty"`
		DoubleValue *float64        `json:"doubleValue,omitempty"`
		ArrayValue  *otlpArrayValue `json:"arrayValue,omitempty"`
	}
	otlpArrayValue struct {
		Values []otlpValue `json:"values"`
	}
)

// otlpRequest groups spans by resource and instrumentation scope.
func otlpRequest(spans []sdktrace.ReadOnlySpan) otlpTraces {
	var out otlpTraces
	resIndex := map[string]int{}
	scopeIndex := map[[2]string]int{}
	for _, s := range spans {
		resKey := ""
		var res otlpResource
		schema := ""
		if r := s.Resource(); r != nil {
			resKey = r.Encoded(attribute.DefaultEncoder())
			res.Attributes = otlpAttributes(r.Attributes())
			schema = r.SchemaURL()
		}
		ri, ok := resIndex[resKey]
		if !ok {
			ri = len(out.ResourceSpans)
			resIndex[resKey] = ri
			out.ResourceSpans = append(out.ResourceSpans, otlpResourceSpans{Resource: res, SchemaURL: schema})
		}
		scope := s.InstrumentationScope()
		sk := [2]string{resKey, scope.Name + "\x00" + scope.Version}
		si, ok := scopeIndex[sk]
		rs := &out.ResourceSpans[ri]
		if !ok {
			si = len(rs.ScopeSpans)
			scopeIndex[sk] = si
			rs.ScopeSpans = append(rs.ScopeSpans, otlpScopeSpans{Scope: otlpScope{Name: scope.Name, Version: scope.Version}, SchemaURL: scope.SchemaURL})
		}
		rs.ScopeSpans[si].Spans = append(rs.ScopeSpans[si].Spans, otlpSpanOf(s))
	}
	return out
}

func otlpSpanOf(s sdktrace.ReadOnlySpan) otlpSpan {
	sc := s.SpanContext()
	sp := otlpSpan{
		TraceID:                traceID(sc.TraceID()),
		SpanID:                 spanID(sc.SpanID()),
		TraceState:             sc.TraceState().String(),
		Name:                   s.Name(),
		Kind:                   otlpKind(s.SpanKind()),
		StartTimeUnixNano:      unixNano(s.StartTime()),
		EndTimeUnixNano:        unixNano(s.EndTime()),
		Attributes:             otlpAttributes(s.Attributes()),
		DroppedAttributesCount: s.DroppedAttributes(),
		DroppedEventsCount:     s.DroppedEvents(),
		DroppedLinksCount:      s.DroppedLinks(),
		Status:                 otlpStatusOf(s.Status()),
	}
	if p := s.Parent(); p.SpanID().IsValid() {
		sp.ParentSpanID = spanID(p.SpanID())
	}
	for _, ev := range s.Events() {
		sp.Events = append(sp.Events, otlpEvent{TimeUnixNano: unixNano(ev.Time), Name: ev.Name, Attributes: otlpAttributes(ev.Attributes)})
	}
	for _, l := range s.Links() {
		sp.Links = append(sp.Links, otlpLink{
			TraceID:    traceID(l.SpanContext.TraceID()),
			SpanID:     spanID(l.SpanContext.SpanID()),
			TraceState: l.SpanContext.TraceState().String(),
			Attributes: otlpAttributes(l.Attributes),
		})
	}
	return sp
}

func traceID(id trace.TraceID) string { return hex.EncodeToString(id[:]) }
func spanID(id trace.SpanID) string   { return hex.EncodeToString(id[:]) }

// otlpKind maps the API's span kinds to OTLP's SpanKind, which number them
// the same way (1 internal … 5 consumer; 0 unspecified).
func otlpKind(k trace.SpanKind) int {
	if k < trace.SpanKindInternal || k > trace.SpanKindConsumer {
		return 0
	}
	return int(k)
}

// otlpStatusOf maps the API's codes (Unset 0, Error 1, Ok 2) to OTLP's
// StatusCode (UNSET 0, OK 1, ERROR 2).
func otlpStatusOf(s sdktrace.Status) otlpStatus {
	switch s.Code {
	case codes.Ok:
		return otlpStatus{Code: 1}
	case codes.Error:
		return otlpStatus{Code: 2, Message: s.Description}
	}
	return otlpStatus{}
}

func unixNano(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

func otlpAttributes(kvs []attribute.KeyValue) []otlpKeyValue {
	out := make([]otlpKeyValue, 0, len(kvs))
	for _, kv := range kvs {
		out = append(out, otlpKeyValue{Key: string(kv.Key), Value: otlpValueOf(kv.Value)})
	}
	return out
}

func otlpValueOf(v attribute.Value) otlpValue {
	switch v.Type() {
	case attribute.BOOL:
		return boolValue(v.AsBool())
	case attribute.INT64:
		return intValue(v.AsInt64())
	case attribute.FLOAT64:
		return doubleValue(v.AsFloat64())
	case attribute.STRING:
		return stringValue(v.AsString())
	case attribute.BOOLSLICE:
		return arrayValue(v.AsBoolSlice(), boolValue)
	case attribute.INT64SLICE:
		return arrayValue(v.AsInt64Slice(), intValue)
	case attribute.FLOAT64SLICE:
		return arrayValue(v.AsFloat64Slice(), doubleValue)
	case attribute.STRINGSLICE:
		return arrayValue(v.AsStringSlice(), stringValue)
	}
	return stringValue(v.String())
}

func stringValue(s string) otlpValue  { return otlpValue{StringValue: &s} }
func boolValue(b bool) otlpValue      { return otlpValue{BoolValue: &b} }
func doubleValue(f float64) otlpValue { return otlpValue{DoubleValue: &f} }
func intValue(n int64) otlpValue {
	s := strconv.FormatInt(n, 10)
	return otlpValue{IntValue: &s}
}

// arrayValue is an OTLP array of xs, each converted by one.
func arrayValue[T any](xs []T, one func(T) otlpValue) otlpValue {
	vs := make([]otlpValue, 0, len(xs))
	for _, x := range xs {
		vs = append(vs, one(x))
	}
	return otlpValue{ArrayValue: &otlpArrayValue{Values: vs}}
}
