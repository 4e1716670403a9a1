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
	OutcomePlanMismatch = "plan_mismatch" // metadata.plan disagrees with the price paid
	// OutcomeLivemodeMismatch is an event of the other mode than the
	// configured Stripe key's (a test event at a live ingress, or the reverse).
	OutcomeLivemodeMismatch = "livemode_mismatch"
	OutcomeUnavailable      = "unavailable" // the database or the bus failed; Stripe retries
)

// Key reveal outcomes, the values of claw_ingress_key_reveals_total's
// outcome label.
const (
	RevealRevealed        = "revealed"         // the key was handed out
	RevealRepeated        = "repeated"         // handed out again, to the same browser within INGRESS_REVEAL_GRACE
	RevealForbidden       = "forbidden"        // wrong nonce, or no hash bound
	RevealAlreadyRevealed = "already_revealed" // someone revealed it before
	RevealExpired         = "expired"          // past INGRESS_REVEAL_TTL, or swept
	RevealNotReady        = "not_ready"        // still provisioning, or failed
	RevealBadRequest      = "bad_request"      // malformed id or body
	RevealNotFound        = "not_found"        // unknown checkout session
	RevealUnavailable     = "unavailable"      // database or secret store failed
)

// Metrics are the ingress's own series. No label carries a customer id.
type Metrics struct {
	webhooks            *prometheus.CounterVec
	requests            *prometheus.CounterVec
	duration            *prometheus.HistogramVec
	apiVersionMismatch  prometheus.Counter
	reveals             *prometheus.CounterVec
	revealHashMalformed prometheus.Counter
	expired             prometheus.Counter
	rateLimited         *prometheus.CounterVec
	waits               *prometheus.CounterVec
	waiting             prometheus.Gauge
	readsSkipped        prometheus.Counter
}

// Outcomes of a GET /v1/provisioning/{id} that asked to wait (Prefer:
// wait=N with If-None-Match), the values of
// claw_ingress_provisioning_waits_total's outcome label.
const (
	WaitChanged   = "changed"   // answered 200 with the changed progress
	WaitUnchanged = "unchanged" // answered 304 when the wait ran out
	WaitRefused   = "refused"   // too many waiting already: answered at once
	WaitGone      = "gone"      // the client left while waiting
)

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
		reveals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_ingress_key_reveals_total",
			Help: "POST /v1/provisioning/{id}/reveal requests by outcome.",
		}, []string{"outcome"}),
		revealHashMalformed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claw_ingress_reveal_hash_malformed_total",
			Help: "Signups whose metadata.reveal_hash was not 64 lowercase hex digits (treated as absent: the key cannot be revealed).",
		}),
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claw_ingress_key_reveals_expired_total",
			Help: "Unrevealed API keys the sweeper deleted after INGRESS_REVEAL_TTL.",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_ingress_rate_limited_total",
			Help: "Requests refused with 429 by the per-client limits (INGRESS_RATELIMIT_*), by route pattern.",
		}, []string{"route"}),
		waits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_ingress_provisioning_waits_total",
			Help: "GET /v1/provisioning/{id} requests that waited for a change (Prefer: wait), by outcome.",
		}, []string{"outcome"}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "claw_ingress_provisioning_waiting",
			Help: "GET /v1/provisioning/{id} requests waiting for a change now.",
		}),
		readsSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claw_ingress_provisioning_reads_skipped_total",
			Help: "Waiting GET /v1/provisioning/{id} requests that began waiting without a read: this process had just answered the ETag they sent, and nothing was notified since.",
		}),
	}
	for _, c := range []prometheus.Collector{m.webhooks, m.requests, m.duration, m.apiVersionMismatch, m.reveals, m.revealHashMalformed, m.expired, m.rateLimited, m.waits, m.waiting, m.readsSkipped} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingress metrics: %w", err)
		}
	}
	// Start the series alerts are written on at zero, so a first failure is a
	// visible increase rather than a new series.
	for _, t := range append([]stripe.EventType{stripeevent.CheckoutCompleted}, stripeevent.LifecycleTypes...) {
		for _, o := range []string{OutcomePublished, OutcomeDuplicate, OutcomeIgnored, OutcomeUnknownPlan, OutcomeUnavailable, OutcomeBadPayload, OutcomeLivemodeMismatch} {
			m.webhooks.WithLabelValues(string(t), o)
		}
	}
	for _, o := range []string{OutcomeBadSignature, OutcomeBadPayload, OutcomeTooLarge, OutcomeLivemodeMismatch} {
		m.webhooks.WithLabelValues(stripeevent.OtherType, o)
	}
	m.webhooks.WithLabelValues(string(stripeevent.CheckoutCompleted), OutcomePlanMismatch)
	for _, o := range []string{RevealRevealed, RevealRepeated, RevealForbidden, RevealAlreadyRevealed, RevealExpired, RevealNotReady,
		RevealBadRequest, RevealNotFound, RevealUnavailable} {
		m.reveals.WithLabelValues(o)
	}
	for _, r := range []string{RouteCheckout, RouteProvisioning, RouteReveal} {
		m.rateLimited.WithLabelValues(r)
	}
	for _, o := range []string{WaitChanged, WaitUnchanged, WaitRefused, WaitGone} {
		m.waits.WithLabelValues(o)
	}
	return m, nil
}

// KeysExpired counts n unrevealed keys the sweeper deleted.
func (m *Metrics) KeysExpired(n int) { m.expired.Add(float64(n)) }
