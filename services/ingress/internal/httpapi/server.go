// Package httpapi is the ingress's public HTTP surface: the Stripe webhook
// (POST /webhooks/stripe), the provisioning API
// (GET /v1/provisioning/{checkout_session_id}) and its one-time key reveal
// (POST /v1/provisioning/{checkout_session_id}/reveal), checkout and billing-portal
// sessions (POST /v1/checkout, /v1/billing-portal) and the admin endpoints
// (/v1/admin/..., behind ADMIN_TOKEN), with request metrics and JSON errors;
// GET /openapi.json serves the OpenAPI document of all of them.
package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/services/ingress/internal/store"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// Route patterns, also the values of the route label.
const (
	RouteWebhook      = "POST /webhooks/stripe"
	RouteProvisioning = "GET /v1/provisioning/{checkout_session_id}"
	RouteCheckout     = "POST /v1/checkout"
	RoutePortal       = "POST /v1/billing-portal"
	routeOther        = "other"
)

// Publisher puts domain events on the bus: *bus.Bus.
type Publisher interface {
	Publish(ctx context.Context, subject string, msg proto.Message, env bus.Envelope) (duplicate bool, err error)
	Ready() error
}

// Store is the read model the handlers use: *store.Store.
type Store interface {
	Processed(ctx context.Context, eventID string) (bool, error)
	MarkProcessed(ctx context.Context, eventID, eventType, sagaID string) error
	RecordSignup(ctx context.Context, su store.Signup) error
	RecordRejected(ctx context.Context, eventID, eventType, reason string) error
	Lookup(ctx context.Context, checkoutSessionID string) (store.Provisioning, error)
	MarkRevealed(ctx context.Context, checkoutSessionID string) error
}

// LineItems reads the prices a Checkout Session was paid at:
// *billing.Client.
type LineItems interface {
	LineItems(ctx context.Context, checkoutSessionID string) ([]stripeevent.Price, error)
}

// Secrets hands out one-time secrets: *secrets.Store.
type Secrets interface {
	Reveal(ctx context.Context, ref string, grace time.Duration) (secret []byte, first bool, err error)
}

// Changes tells when a signup's progress may have changed:
// *changes.Feed.
type Changes interface {
	Subscribe(sagaID string) (changed <-chan struct{}, stop func())
	// Mark and ChangedSince tell whether a saga may have changed since a
	// mark taken before a read, so a waiter subscribed after its read
	// reads again only then (changes.Feed).
	Mark() uint64
	ChangedSince(sagaID string, mark uint64) bool
}

// Deps is what the handlers need.
type Deps struct {
	Log      *slog.Logger
	Verifier *stripeevent.Verifier
	// Prices maps Stripe prices to plans for subscription updates.
	Prices    stripeevent.PriceMap
	Publisher Publisher
	Store     Store
	Secrets   Secrets
	Metrics   *Metrics
	// PublishTimeout bounds waiting for the stream's acknowledgement; past
	// it the webhook answers 503 and Stripe retries.
	PublishTimeout time.Duration
	// Billing creates Stripe sessions; nil when Stripe is not configured
	// (the endpoints answer 503 saying what to set).
	Billing Billing
	// LineItems reads a Checkout Session's prices from Stripe when its
	// event carries none; nil without a Stripe key (the event must then
	// carry them, as dev checkouts do).
	LineItems LineItems
	// LiveMode is the mode of the configured Stripe key (sk_live_: true;
	// sk_test_ or none: false); events of the other mode are refused.
	LiveMode bool
	// Admin reaches the saga's admin API; AdminToken ("" = admin disabled)
	// guards it and AdminTimeout bounds each request.
	Admin        AdminRequester
	AdminToken   string
	AdminTimeout time.Duration
	// InternalToken ("" = billing portal disabled) is the Bearer token of
	// the platform's web app, the only caller that authenticates customers.
	InternalToken string
	// RevealTTL is how long after ready an unrevealed key may be revealed.
	RevealTTL time.Duration
	// RevealGrace is how long after the first reveal the same browser may
	// reveal the key again (its answer may have been lost); 0: never. The
	// secret store keeps the time and decides.
	RevealGrace time.Duration
	// Now is the clock of the reveal's expiry.
	Now func() time.Time
	// RateLimits limit the public endpoints per client address.
	RateLimits RateLimits
	// Changes wakes provisioning reads waiting for a change (Prefer: wait);
	// nil leaves them re-reading every second.
	Changes Changes
}

// New returns the ingress's HTTP handler.
func New(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	mux := http.NewServeMux()
	mux.Handle(RouteWebhook, &webhookHandler{Deps: d})
	mux.Handle(RouteProvisioning, limited(d, RouteProvisioning, d.RateLimits.Provisioning, &provisioningHandler{Deps: d}))
	mux.Handle(RouteReveal, limited(d, RouteReveal, d.RateLimits.Reveal, &revealHandler{Deps: d}))
	mux.Handle(RouteCheckout, limited(d, RouteCheckout, d.RateLimits.Checkout, &checkoutHandler{Deps: d}))
	mux.Handle(RoutePortal, newPortalHandler(d))
	registerAdmin(mux, d)
	mux.HandleFunc(RouteOpenAPI, serveOpenAPI)
	mux.Handle("/webhooks/stripe", methodNotAllowed(http.MethodPost))
	mux.Handle("/v1/checkout", methodNotAllowed(http.MethodPost))
	mux.Handle("/v1/billing-portal", methodNotAllowed(http.MethodPost))
	mux.Handle("/v1/provisioning/{checkout_session_id}", methodNotAllowed("GET, HEAD"))
	mux.Handle("/v1/provisioning/{checkout_session_id}/reveal", methodNotAllowed(http.MethodPost))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	return instrument(d.Log, d.Metrics, mux)
}

// methodNotAllowed answers 405 with a JSON body on a known path.
func methodNotAllowed(allow string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method not allowed; use "+allow)
	})
}

// instrument counts and times every request by route pattern and turns a
// handler panic into a 500 with a JSON body.
func instrument(log *slog.Logger, m *Metrics, mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				log.Error("handler panic", "route", r.Pattern, "panic", v)
				if !rec.wrote {
					writeError(rec, http.StatusInternalServerError, "internal error")
				}
			}
			route := r.Pattern // set by the mux on this request
			if route == "" || route == "/" {
				route = routeOther
			}
			code := rec.code
			if !rec.wrote {
				code = http.StatusOK
			}
			m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
			if !rec.waited {
				// A read that waited for a change (Prefer: wait) lasts as
				// long as the wait: it would hide the route's latency.
				m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
			}
		}()
		mux.ServeHTTP(rec, r)
	})
}

// recorder remembers the status code a handler wrote, and whether the
// request waited for a change (markWaited).
type recorder struct {
	http.ResponseWriter
	code   int
	wrote  bool
	waited bool
}

// markWaited leaves w's request out of the duration histogram: it is
// about to wait for a change, for as long as its client asked.
func markWaited(w http.ResponseWriter) {
	if rec, ok := w.(*recorder); ok {
		rec.waited = true
	}
}

// WriteHeader records the first status code written.
func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

// Write records the implicit 200 of a body written without a status.
func (r *recorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.code, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
