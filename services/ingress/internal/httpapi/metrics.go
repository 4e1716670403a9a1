package httpapi

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stripe/stripe-go/v76"

	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// Webhook outcomes, the values of the outcome label.
const (
	OutcomePublished    = "published"     // the domain event is stored on the stream
	OutcomeDuplicate    = "duplicate"     // an event already processed (or already on the stream)
	OutcomeIgnored      = "ignored"       // authentic, but nothing for the platform to do
	OutcomeBadSignature = "bad_signature" // missing, malformed, forged or expired signature
	OutcomeBadPayload   = "bad_payload"   // authentic but unusable body
	OutcomeTooLarge     = "too_large"     // body over MaxBody
	OutcomeUnknownPlan  = "unknown_plan"  // a signup for a plan not in the catalog
	OutcomeUnavailable  = "unavailable"   // the database or the bus failed; Stripe retries
)

// Metrics are the ingress's own series. No label carries a customer id.
type Metrics struct {
	webhooks           *prometheus.CounterVec
	requests           *prometheus.CounterVec
	duration           *prometheus.HistogramVec
	apiVersionMismatch prometheus.Counter
}

// NewMetrics registers the ingress metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_ingress_webhooks_total",
			Help: "Stripe webhook deliveries by event type (known types, else \"other\") and outcome.",
		}, []string{"event_type", "outcome"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_ingress_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claw_ingress_http_request_duration_seconds",
			Help:    "HTTP request duration by route pattern.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"route"}),
		apiVersionMismatch: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claw_ingress_webhook_api_version_mismatch_total",
			Help: "Authentic webhook events whose API version differs from the one the ingress is built for; configure the endpoint's version.",
		}),
	}
	for _, c := range []prometheus.Collector{m.webhooks, m.requests, m.duration, m.apiVersionMismatch} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingress metrics: %w", err)
		}
	}
	// Start the series alerts are written on at zero, so a first failure is a
	// visible increase rather than a new series.
	for _, t := range append([]stripe.EventType{stripeevent.CheckoutCompleted}, stripeevent.LifecycleTypes...) {
		for _, o := range []string{OutcomePublished, OutcomeDuplicate, OutcomeIgnored, OutcomeUnknownPlan, OutcomeUnavailable, OutcomeBadPayload} {
			m.webhooks.WithLabelValues(string(t), o)
		}
	}
	for _, o := range []string{OutcomeBadSignature, OutcomeBadPayload, OutcomeTooLarge} {
		m.webhooks.WithLabelValues(stripeevent.OtherType, o)
	}
	return m, nil
}
