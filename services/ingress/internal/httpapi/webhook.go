package httpapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/ingress/internal/billing"
	"clawdbot.cloud/services/ingress/internal/store"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// MaxBody is the largest webhook body accepted. Stripe's events are a few
// kilobytes; a megabyte leaves room for big line-item lists and bounds what
// an unauthenticated caller can make the service read and hash.
const MaxBody = 1 << 20

// webhookTimeout bounds a whole delivery: Stripe gives up waiting long
// before this and retries, which is harmless.
const webhookTimeout = 15 * time.Second

// webhookHandler serves POST /webhooks/stripe.
//
// Status codes, as Stripe reads them (any non-2xx is retried for up to
// three days):
//   - 200: the event is durably on the stream (or was already), or it is
//     authentic and needs nothing from the platform ({"ignored": true});
//   - 400: missing, malformed, forged or expired signature, or an authentic
//     body the platform cannot read;
//   - 413: body over MaxBody;
//   - 422: a signup whose price paid maps to no plan (or names none), or
//     whose metadata.plan disagrees with it; a subscription update to a
//     price no STRIPE_PRICE_* names; an event of the other livemode than
//     the configured Stripe key's. The event is
//     recorded in ingress.rejected_events and counted, and Stripe's retries
//     give an operator three days to fix the configuration and have the
//     event go through by itself;
//   - 503: the database or the bus could not make the event durable.
type webhookHandler struct {
	Deps
}

// ServeHTTP reads and verifies one delivery, then dispatches it by event type.
func (h *webhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			// Do not read the rest of an oversized body to reuse the connection.
			w.Header().Set("Connection", "close")
			h.refuse(w, http.StatusRequestEntityTooLarge, stripeevent.OtherType, OutcomeTooLarge, "body larger than 1 MiB")
			return
		}
		h.refuse(w, http.StatusBadRequest, stripeevent.OtherType, OutcomeBadPayload, "cannot read body")
		return
	}
	header := r.Header.Get("Stripe-Signature") // a credential of sorts: never logged
	if header == "" {
		h.refuse(w, http.StatusBadRequest, stripeevent.OtherType, OutcomeBadSignature, "missing Stripe-Signature")
		return
	}
	evt, err := h.Verifier.Verify(body, header)
	if err != nil {
		outcome := OutcomeBadPayload
		if errors.Is(err, stripeevent.ErrSignature) {
			outcome = OutcomeBadSignature
		}
		h.refuse(w, http.StatusBadRequest, stripeevent.OtherType, outcome, err.Error())
		return
	}
	label := stripeevent.TypeLabel(evt.Type)
	log := h.Log.With("event_id", evt.ID, "event_type", string(evt.Type))
	ctx, cancel := context.WithTimeout(r.Context(), webhookTimeout)
	defer cancel()
	if evt.Livemode != h.LiveMode {
		// A test-mode event at a live ingress (or the reverse): the endpoint
		// secret is shared across modes, or someone holding it is playing.
		h.reject(ctx, w, evt, label, log, OutcomeLivemodeMismatch, fmt.Sprintf(
			"livemode %v event refused: the configured Stripe key is for livemode %v", evt.Livemode, h.LiveMode))
		return
	}
	if evt.APIVersionMismatch {
		h.Metrics.apiVersionMismatch.Inc()
		log.Warn("webhook API version differs from the one the ingress is built for; set the endpoint's API version",
			"api_version", evt.APIVersion, "want", stripeevent.APIVersion)
	}
	switch {
	case stripeevent.IsSignup(evt.Type):
		h.signup(ctx, w, evt, label, log)
	case stripeevent.IsLifecycle(evt.Type):
		h.lifecycle(ctx, w, evt, label, log)
	default:
		h.ignore(w, label, log, "not an event the platform acts on")
	}
}

// signup turns an authentic checkout event into customer.signed_up and
// answers 200 only once the stream has acknowledged it.
func (h *webhookHandler) signup(ctx context.Context, w http.ResponseWriter, evt stripeevent.Verified, label string, log *slog.Logger) {
	if evt.Data == nil {
		h.refuse(w, http.StatusBadRequest, label, OutcomeBadPayload, "event has no data.object")
		return
	}
	cs, err := stripeevent.ParseCheckoutSession(evt.Data.Raw)
	if err != nil {
		log.Warn("unusable checkout session", "err", err)
		h.refuse(w, http.StatusBadRequest, label, OutcomeBadPayload, err.Error())
		return
	}
	msg, err := stripeevent.Signup(evt, cs, h.Prices)
	if errors.Is(err, stripeevent.ErrNoPrice) && h.LineItems != nil {
		// Stripe's own events carry no line items: ask Stripe what was paid.
		prices, ferr := h.LineItems.LineItems(ctx, cs.ID)
		switch {
		case ferr != nil && billing.Refused(ferr):
			err = fmt.Errorf("%w: Stripe refused to list the line items: %s", stripeevent.ErrNoPrice, billing.Describe(ferr))
		case ferr != nil:
			h.unavailable(w, label, log, "read line items", ferr)
			return
		default:
			cs.Prices = prices
			msg, err = stripeevent.Signup(evt, cs, h.Prices)
		}
	}
	switch {
	case errors.Is(err, stripeevent.ErrNotSignup):
		h.ignore(w, label, log, err.Error())
		return
	case errors.Is(err, stripeevent.ErrPlanMismatch):
		log = log.With("customer_id", cs.CustomerID, "checkout_ref", stripeevent.Ref(cs.ID))
		h.reject(ctx, w, evt, label, log, OutcomePlanMismatch, err.Error())
		return
	case errors.Is(err, plans.ErrUnknownPlan):
		log = log.With("customer_id", cs.CustomerID, "checkout_ref", stripeevent.Ref(cs.ID))
		h.reject(ctx, w, evt, label, log, OutcomeUnknownPlan, err.Error())
		return
	case err != nil:
		log.Warn("unusable checkout session", "err", err)
		h.refuse(w, http.StatusBadRequest, label, OutcomeBadPayload, err.Error())
		return
	}
	// The session id never reaches a log: checkout_ref names it.
	log = log.With("saga_id", msg.GetSagaId(), "customer_id", msg.GetCustomerId(), "checkout_ref", stripeevent.Ref(cs.ID))
	if cs.RevealHashMalformed {
		// Treated as absent (nobody can reveal the key); the value is
		// not logged, it is derived from a browser secret.
		h.Metrics.revealHashMalformed.Inc()
		log.Warn("checkout session has a malformed metadata.reveal_hash; the key cannot be revealed")
	}

	h.publishOnce(ctx, w, evt, label, log, publication{
		subject: subjects.CustomerSignedUp,
		msg:     msg,
		env: bus.Envelope{
			MsgID: evt.ID, SagaID: msg.GetSagaId(), CustomerID: msg.GetCustomerId(), StripeEventID: evt.ID,
		},
		// The provisioning row exists before the event, so the page answers at once.
		prepare: func(ctx context.Context) error {
			return h.Store.RecordSignup(ctx, store.Signup{
				CheckoutSessionID: cs.ID, SagaID: msg.GetSagaId(), CustomerID: msg.GetCustomerId(),
				Plan: msg.GetPlan(), StripeEventID: evt.ID, RevealHash: cs.RevealHash,
			})
		},
		logAttrs: []any{"plan", msg.GetPlan()},
	})
}

// reject answers 422 to an authentic event the platform will not act on as
// configured (unknown plan, plan mismatch, other livemode): it is recorded in
// ingress.rejected_events with the reason and counted, and Stripe's retries
// let it through by itself if an operator fixes the configuration.
func (h *webhookHandler) reject(ctx context.Context, w http.ResponseWriter, evt stripeevent.Verified, label string, log *slog.Logger, outcome, reason string) {
	log.Error("webhook refused; recorded in ingress.rejected_events", "outcome", outcome, "err", reason)
	if err := h.Store.RecordRejected(ctx, evt.ID, string(evt.Type), reason); err != nil {
		log.Error("cannot record rejected event", "err", err)
	}
	h.refuse(w, http.StatusUnprocessableEntity, label, outcome, reason)
}

func (h *webhookHandler) refuse(w http.ResponseWriter, code int, label, outcome, msg string) {
	h.Metrics.webhooks.WithLabelValues(label, outcome).Inc()
	writeError(w, code, msg)
}

func (h *webhookHandler) ignore(w http.ResponseWriter, label string, log *slog.Logger, why string) {
	h.Metrics.webhooks.WithLabelValues(label, OutcomeIgnored).Inc()
	log.Debug("webhook ignored", "why", why)
	writeJSON(w, http.StatusOK, map[string]bool{"ignored": true})
}

func (h *webhookHandler) unavailable(w http.ResponseWriter, label string, log *slog.Logger, what string, err error) {
	log.Error("webhook not made durable; answering 503 so Stripe retries", "stage", what, "err", err)
	w.Header().Set("Retry-After", "5")
	h.refuse(w, http.StatusServiceUnavailable, label, OutcomeUnavailable, "temporarily unavailable; retry")
}
