package ui

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the web app's own series. No label carries a customer,
// session, token or checkout id.
type Metrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	checkouts *prometheus.CounterVec
	reveals   *prometheus.CounterVec
	signins   *prometheus.CounterVec
	proxied   *prometheus.CounterVec
	refused   *prometheus.CounterVec
	google    *prometheus.CounterVec
	controlUI *prometheus.CounterVec
}

// NewMetrics registers the web metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_web_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "claw_web_http_request_duration_seconds",
			Help:    "HTTP request duration by route pattern (server-sent event streams excluded).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"route"}),
		checkouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_web_checkouts_total",
			Help: "Checkouts started, by mode (stripe, dev) and outcome.",
		}, []string{"mode", "outcome"}),
		reveals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_web_key_reveals_total",
			Help: "One-time key reveals on the success page, by outcome.",
		}, []string{"outcome"}),
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_web_signins_total",
			Help: "Sign-in steps by outcome (link_sent, unknown_email, rate_limited, mail_failed, signed_in, bad_link, signed_out).",
		}, []string{"outcome"}),
		proxied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_web_instance_requests_total",
			Help: "Dashboard requests proxied to customers' instances, by status code class.",
		}, []string{"code"}),
		google: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_web_google_connects_total",
			Help: "Connect Google steps by result (started, connected, denied, bad_state, not_allowed, exchange_failed, instance_failed).",
		}, []string{"result"}),
		controlUI: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_web_control_ui_requests_total",
			Help: "OpenClaw Control UI requests, by kind (open: a handoff minted on the web app; handoff: one used on the control origin; page, websocket) and outcome (the instance's status class; 303 handed off; 401, 403, 404, 409, 503 refused here; error: the instance did not answer).",
		}, []string{"kind", "code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claw_web_refused_total",
			Help: "Requests refused before any work, by reason (csrf, no_session, bad_input, too_large, forbidden, rate_limited, cross_origin, bad_handoff).",
		}, []string{"reason"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.checkouts, m.reveals, m.signins, m.proxied, m.refused, m.google, m.controlUI} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register web metrics: %w", err)
		}
	}
	for _, r := range []string{"csrf", "no_session", "bad_input", "too_large", "forbidden", "rate_limited", "cross_origin", "bad_handoff"} {
		m.refused.WithLabelValues(r)
	}
	for _, r := range googleResults {
		m.google.WithLabelValues(r)
	}
	for _, o := range []string{"revealed", "forbidden", "already_revealed", "not_ready", "failed"} {
		m.reveals.WithLabelValues(o)
	}
	return m, nil
}
