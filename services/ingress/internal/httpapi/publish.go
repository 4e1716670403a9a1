package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// publication is the domain event one Stripe delivery becomes.
type publication struct {
	subject string
	msg     proto.Message
	// env.MsgID is the Stripe event id, so every copy of a delivery is one
	// message on the stream.
	env bus.Envelope
	// prepare, when set, runs before the publish (and its failure answers 503).
	prepare  func(ctx context.Context) error
	logAttrs []any
}

// publishOnce makes p durable exactly once per Stripe event and answers:
// 200 {"duplicate": true} for an event already processed, 200 once the
// stream has acknowledged the publish, 503 when the database or the bus
// failed (Stripe retries).
func (h *webhookHandler) publishOnce(ctx context.Context, w http.ResponseWriter, evt stripeevent.Verified, label string, log *slog.Logger, p publication) {
	done, err := h.Store.Processed(ctx, evt.ID)
	if err != nil {
		h.unavailable(w, label, log, "read processed events", err)
		return
	}
	if done {
		h.Metrics.webhooks.WithLabelValues(label, OutcomeDuplicate).Inc()
		log.Info("duplicate delivery of a processed event")
		writeJSON(w, http.StatusOK, map[string]bool{"received": true, "duplicate": true})
		return
	}
	if p.prepare != nil {
		if err := p.prepare(ctx); err != nil {
			h.unavailable(w, label, log, "prepare", err)
			return
		}
	}
	if err := h.Publisher.Ready(); err != nil {
		// Fail fast rather than wait for a reconnect Stripe will not wait for.
		h.unavailable(w, label, log, "bus", err)
		return
	}
	pctx, cancel := context.WithTimeout(ctx, h.PublishTimeout)
	dup, err := h.Publisher.Publish(pctx, p.subject, p.msg, p.env)
	cancel()
	if err != nil {
		h.unavailable(w, label, log, "publish", err)
		return
	}
	// The event is durable; failing to note it only costs a harmless
	// republish (same Nats-Msg-Id, and the saga dedups by state).
	if err := h.Store.MarkProcessed(ctx, evt.ID, string(evt.Type), p.env.SagaID); err != nil {
		log.Warn("cannot mark event processed", "err", err)
	}
	outcome := OutcomePublished
	if dup {
		outcome = OutcomeDuplicate
	}
	h.Metrics.webhooks.WithLabelValues(label, outcome).Inc()
	log.Info("event published", append([]any{"subject", p.subject, "duplicate", dup}, p.logAttrs...)...)
	writeJSON(w, http.StatusOK, map[string]bool{"received": true, "duplicate": dup})
}
