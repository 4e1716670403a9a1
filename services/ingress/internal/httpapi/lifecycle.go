package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// lifecycle turns an authentic subscription or invoice event into its
// customer.* domain event (stripeevent.ParseLifecycle) and answers 200 only
// once the stream has acknowledged it. Events for customers the platform
// does not know are published all the same: Stripe delivers out of order,
// and the saga keeps them until the customer appears.
//
// Answers: 200 published or duplicate; 200 {"ignored": true} for an update
// that leaves a subscription on a price of no plan or an invoice without a
// subscription (whether an update changes the plan is the saga's call); 400
// for an unusable body; 422 for a new price that maps to no plan (recorded in
// ingress.rejected_events; Stripe's retries let an operator configure it);
// 503 when the event could not be made durable.
func (h *webhookHandler) lifecycle(ctx context.Context, w http.ResponseWriter, evt stripeevent.Verified, label string, log *slog.Logger) {
	lc, err := stripeevent.ParseLifecycle(evt, h.Prices)
	switch {
	case errors.Is(err, stripeevent.ErrNoChange):
		h.ignore(w, label, log, err.Error())
		return
	case errors.Is(err, plans.ErrUnknownPlan):
		log.Error("lifecycle event refused: price maps to no plan (set STRIPE_PRICE_*); recorded in ingress.rejected_events", "err", err)
		if rerr := h.Store.RecordRejected(ctx, evt.ID, string(evt.Type), err.Error()); rerr != nil {
			log.Error("cannot record rejected event", "err", rerr)
		}
		h.refuse(w, http.StatusUnprocessableEntity, label, OutcomeUnknownPlan, err.Error())
		return
	case err != nil:
		log.Warn("unusable lifecycle event", "err", err)
		h.refuse(w, http.StatusBadRequest, label, OutcomeBadPayload, err.Error())
		return
	}
	log = log.With("customer_id", lc.CustomerID)
	h.publishOnce(ctx, w, evt, label, log, publication{
		subject: lc.Subject,
		msg:     lc.Msg,
		env:     bus.Envelope{MsgID: evt.ID, CustomerID: lc.CustomerID, StripeEventID: evt.ID},
	})
}
