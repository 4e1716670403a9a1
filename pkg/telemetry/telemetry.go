// Package telemetry sets up OpenTelemetry tracing from the standard OTEL_*
// variables and traces HTTP servers and clients with ids and query strings
// kept out of the spans. The bus carries trace context itself (pkg/bus);
// pkg/service hands every service its provider.
package telemetry

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"clawdbot.cloud/pkg/config"
)

// Tracing is a service's OpenTelemetry tracing: the provider its bus, HTTP
// servers and HTTP clients record spans with, and how to flush it.
type Tracing struct {
	// Provider records spans; the no-op provider when tracing is off.
	Provider trace.TracerProvider
	// Shutdown flushes and stops the exporter (a no-op when off).
	Shutdown func(context.Context) error
}

// Off is tracing switched off: nothing is recorded, though trace context
// arriving in requests and messages is still carried on.
func Off() Tracing {
	return Tracing{Provider: noop.NewTracerProvider(), Shutdown: func(context.Context) error { return nil }}
}

// Exporter settings, the standard OpenTelemetry SDK variables:
//
//	OTEL_SDK_DISABLED=true            tracing off whatever else is set
//	OTEL_TRACES_EXPORTER              otlp | console | none; unset: otlp when an
//	                                  OTLP endpoint is set, otherwise none (off)
//	OTEL_EXPORTER_OTLP_ENDPOINT       base URL of an OTLP/HTTP receiver
//	                                  (http://jaeger:4318); /v1/traces is added
//	OTEL_EXPORTER_OTLP_TRACES_ENDPOINT the traces URL itself (wins over the above)
//	OTEL_SERVICE_NAME                 the service.name resource attribute
//	                                  (default: the platform's service name)
//	OTEL_TRACES_SAMPLER(_ARG)         always_on, always_off, traceidratio,
//	                                  parentbased_* (default parentbased_always_on)
//
//	OTEL_EXPORTER_OTLP_HEADERS        key=value,… sent with every export
//	(and _TRACES_HEADERS)             (a hosted collector's credentials)
//	OTEL_EXPORTER_OTLP_TIMEOUT        per export, milliseconds (10000)
//
// Spans go out as OTLP/HTTP JSON (otlp.go).
const (
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envOTLPEndpoint   = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envServiceName    = "OTEL_SERVICE_NAME"
	envSampler        = "OTEL_TRACES_SAMPLER"
	envSamplerArg     = "OTEL_TRACES_SAMPLER_ARG"
	envOTLPHeaders    = "OTEL_EXPORTER_OTLP_HEADERS"
	envTracesHeaders  = "OTEL_EXPORTER_OTLP_TRACES_HEADERS"
	envOTLPTimeout    = "OTEL_EXPORTER_OTLP_TIMEOUT"
)

// TracingFromConfig returns the tracing the OTEL_* variables in cfg
// describe for the service name; problems are recorded in cfg (the caller
// returns cfg.Err()). Tracing is off when no exporter is configured.
func TracingFromConfig(ctx context.Context, cfg *config.Loader, name string) (Tracing, error) {
	exp, err := exporterFromConfig(ctx, cfg)
	if err != nil || exp == nil {
		return Off(), err
	}
	tp := NewTracerProvider(cfg.String(envServiceName, name), exp, samplerFromConfig(cfg))
	return Tracing{Provider: tp, Shutdown: tp.Shutdown}, nil
}

// exporterFromConfig returns the span exporter cfg names, or nil for none.
func exporterFromConfig(ctx context.Context, cfg *config.Loader) (sdktrace.SpanExporter, error) {
	if cfg.Bool(envSDKDisabled, false) {
		return nil, nil
	}
	endpoint := cfg.URL(envOTLPEndpoint, "", "http", "https")
	tracesEndpoint := cfg.URL(envTracesEndpoint, "", "http", "https")
	def := "none"
	if endpoint != "" || tracesEndpoint != "" {
		def = "otlp"
	}
	switch kind := cfg.OneOf(envTracesExporter, def, "otlp", "console", "none"); kind {
	case "console":
		return stdouttrace.New(stdouttrace.WithWriter(os.Stdout))
	case "otlp":
		u := tracesEndpoint
		if u == "" {
			if endpoint == "" {
				cfg.Problem("%s=otlp needs %s (http://host:4318) or %s", envTracesExporter, envOTLPEndpoint, envTracesEndpoint)
				return nil, nil
			}
			u = strings.TrimSuffix(endpoint, "/") + "/v1/traces"
		}
		if u == "" || cfg.Err() != nil {
			return nil, nil
		}
		headers, err := parseOTLPHeaders(cfg.String(envOTLPHeaders, ""))
		if err != nil {
			cfg.Problem("%s: %v", envOTLPHeaders, err)
		}
		if th, err := parseOTLPHeaders(cfg.String(envTracesHeaders, "")); err != nil {
			cfg.Problem("%s: %v", envTracesHeaders, err)
		} else {
			for k, vs := range th {
				headers[k] = vs
			}
		}
		timeout := cfg.Int(envOTLPTimeout, 10_000)
		if timeout <= 0 {
			cfg.Problem("%s=%d: want milliseconds above 0", envOTLPTimeout, timeout)
		}
		if cfg.Err() != nil {
			return nil, nil
		}
		return newOTLPExporter(u, headers, time.Duration(timeout)*time.Millisecond), nil
	}
	return nil, nil
}

// samplerFromConfig reads OTEL_TRACES_SAMPLER and its argument.
func samplerFromConfig(cfg *config.Loader) sdktrace.Sampler {
	kind := cfg.OneOf(envSampler, "parentbased_always_on", "always_on", "always_off", "traceidratio",
		"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio")
	ratio := 1.0
	if arg := cfg.String(envSamplerArg, ""); arg != "" {
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || r < 0 || r > 1 {
			cfg.Problem("%s=%q: want a ratio between 0 and 1", envSamplerArg, arg)
		} else {
			ratio = r
		}
	}
	switch kind {
	case "always_on":
		return sdktrace.AlwaysSample()
	case "always_off":
		return sdktrace.NeverSample()
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(ratio)
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample())
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))
	}
	return sdktrace.ParentBased(sdktrace.AlwaysSample())
}

// NewTracerProvider returns a provider that batches spans of service to
// exp, sampled by sampler (nil: parent-based, always on).
func NewTracerProvider(service string, exp sdktrace.SpanExporter, sampler sdktrace.Sampler) *sdktrace.TracerProvider {
	if sampler == nil {
		sampler = sdktrace.ParentBased(sdktrace.AlwaysSample())
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(service),
		attribute.String("service.namespace", "clawdbot"),
	)
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res), sdktrace.WithSampler(sampler))
}

// Propagator is the trace context propagation of HTTP requests: W3C Trace
// Context (traceparent, tracestate), as on the bus.
var Propagator propagation.TextMapPropagator = propagation.TraceContext{}

// TraceHandler wraps an HTTP server's handler so each request runs in a
// server span (a child of the caller's traceparent, if any) recorded with
// tp (nil: the global provider). What the span records of the URL is redacted (RedactPath, no query
// string): paths carry ids that grant access, such as the checkout session
// in /v1/provisioning/{cs_id}. The span is named by the route pattern once
// the mux has matched one. Probes (/healthz, /readyz, /metrics) are not traced.
func TraceHandler(h http.Handler, tp trace.TracerProvider, operation string) http.Handler {
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orig, ok := r.Context().Value(origURLKey{}).(*url.URL)
		if !ok {
			h.ServeHTTP(w, r)
			return
		}
		// Serve the request as it came, then tell otelhttp the pattern
		// the mux matched, for the span's name.
		r2 := *r
		r2.URL = orig
		h.ServeHTTP(w, &r2)
		r.Pattern = r2.Pattern
	})
	traced := otelhttp.NewHandler(inner, operation,
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator),
		otelhttp.WithSpanNameFormatter(func(op string, r *http.Request) string { return spanName(op, r) }),
		otelhttp.WithFilter(func(r *http.Request) bool { return !isProbe(r) }),
	)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := *r
		r2.URL = redacted(r.URL)
		r2.RequestURI = r2.URL.RequestURI()
		traced.ServeHTTP(w, r2.WithContext(context.WithValue(r.Context(), origURLKey{}, r.URL)))
	})
}

// TraceTransport wraps an HTTP client's transport (nil: the default) so
// each request runs in a client span recorded with tp and carries its
// traceparent. The span's URL is redacted as TraceHandler's is, and has no
// user info: provider APIs take tokens in query strings and ids in paths.
func TraceTransport(rt http.RoundTripper, tp trace.TracerProvider) http.RoundTripper {
	if rt == nil {
		rt = http.DefaultTransport
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	traced := otelhttp.NewTransport(restoreURL{rt},
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Host }),
	)
	return &tracedTransport{traced: traced, base: rt}
}

// tracedTransport shows otelhttp the redacted URL; restoreURL, beneath it,
// sends the real one.
type tracedTransport struct{ traced, base http.RoundTripper }

func (t *tracedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := *r
	r2.URL = redacted(r.URL)
	return t.traced.RoundTrip(r2.WithContext(context.WithValue(r.Context(), origURLKey{}, r.URL)))
}

// CloseIdleConnections closes the idle connections of the wrapped
// transport (http.Client.CloseIdleConnections reaches it through this).
func (t *tracedTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// TraceClient returns a copy of c (nil: a new client) whose transport is
// traced with tp.
func TraceClient(c *http.Client, tp trace.TracerProvider) *http.Client {
	if c == nil {
		c = &http.Client{}
	}
	cc := *c
	cc.Transport = TraceTransport(c.Transport, tp)
	return &cc
}

type origURLKey struct{}

// restoreURL sends the request to its real URL: the traced layer saw the
// redacted one.
type restoreURL struct{ rt http.RoundTripper }

func (t restoreURL) RoundTrip(r *http.Request) (*http.Response, error) {
	if orig, ok := r.Context().Value(origURLKey{}).(*url.URL); ok {
		r2 := *r
		r2.URL = orig
		r = &r2
	}
	return t.rt.RoundTrip(r)
}

// redacted is u without user info, query string or fragment, its path
// passed through RedactPath.
func redacted(u *url.URL) *url.URL {
	c := *u
	c.User, c.RawQuery, c.Fragment, c.RawFragment, c.ForceQuery = nil, "", "", "", false
	c.Path, c.RawPath = RedactPath(u.Path), ""
	return &c
}

// RedactPath replaces the segments of an URL path that may be ids with
// "{id}": any segment with a digit (except API versions such as v1) or
// longer than 24 characters. Route names (/api/chat, /v1/provisioning)
// stay readable; /v1/provisioning/cs_test_a1B2 becomes
// /v1/provisioning/{id}.
func RedactPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if s != "" && (len(s) > 24 || strings.ContainsAny(s, "0123456789") && !isVersion(s)) {
			segs[i] = "{id}"
		}
	}
	return strings.Join(segs, "/")
}

func isVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	_, err := strconv.Atoi(s[1:])
	return err == nil
}

// spanName is "METHOD pattern" once the mux matched a route, the operation
// (or "HTTP METHOD") before: raw paths carry ids.
func spanName(op string, r *http.Request) string {
	if r.Pattern != "" {
		p := r.Pattern
		if i := strings.IndexByte(p, ' '); i >= 0 {
			p = p[i+1:]
		}
		return r.Method + " " + p
	}
	if op != "" {
		return op
	}
	return "HTTP " + r.Method
}

func isProbe(r *http.Request) bool {
	return r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || r.URL.Path == "/metrics"
}

// redactURL drops user info and the query string from u for logs and errors.
func redactURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparseable URL)"
	}
	p.User, p.RawQuery, p.Fragment = nil, "", ""
	return p.String()
}
