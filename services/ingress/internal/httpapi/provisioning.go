package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/services/ingress/internal/store"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// provisioningHandler serves GET /v1/provisioning/{checkout_session_id}: the
// page Stripe's success URL leads to polls it until the instance is ready,
// and the first read after that carries the API key, once.
//
// Whoever knows the Checkout Session id may read it, as with Stripe's own
// success-page design ({CHECKOUT_SESSION_ID} in the success URL): the id is
// the bearer of the one-time key reveal. It is long and random, reaches only
// the paying browser (and Stripe), and after the reveal it grants nothing
// but the provisioning status. Responses are never cached (no-store).
type provisioningHandler struct {
	Deps
}

// provisioningResponse is the API's JSON body.
type provisioningResponse struct {
	CheckoutSessionID string `json:"checkout_session_id"`
	// Status is provisioning, ready or failed.
	Status string     `json:"status"`
	Steps  []stepJSON `json:"steps"`
	// InstanceURL is where the customer's assistant answers, once known.
	InstanceURL string `json:"instance_url"`
	// APIKey is present in exactly one response: the first after ready.
	APIKey string `json:"api_key,omitempty"`
	// APIKeyRevealed is true from the response that carries the key on.
	APIKeyRevealed bool   `json:"api_key_revealed"`
	FailureReason  string `json:"failure_reason"`
	// CustomerState is the customer's lifecycle state (active, past_due,
	// suspended, canceled, archived, deleted) once the saga reported one.
	CustomerState string `json:"customer_state,omitempty"`
}

type stepJSON struct {
	Name         string    `json:"name"`
	Status       string    `json:"status"`
	At           time.Time `json:"at"`
	Compensation bool      `json:"compensation,omitempty"`
}

// ServeHTTP answers one read, handing out the key if it is the first after ready.
func (h *provisioningHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id := r.PathValue("checkout_session_id")
	if !stripeevent.ValidCheckoutSessionID(id) {
		writeError(w, http.StatusBadRequest, "invalid checkout session id")
		return
	}
	ctx := r.Context()
	p, err := h.Store.Lookup(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "unknown checkout session")
		return
	}
	if err != nil {
		h.Log.Error("provisioning lookup", "err", err)
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable; retry")
		return
	}
	resp := provisioningResponse{
		CheckoutSessionID: p.CheckoutSessionID,
		Status:            p.Status,
		Steps:             make([]stepJSON, 0, len(p.Steps)),
		InstanceURL:       p.InstanceURL,
		APIKeyRevealed:    p.APIKeyRevealed,
		FailureReason:     p.FailureReason,
		CustomerState:     p.CustomerState,
	}
	for _, s := range p.Steps {
		resp.Steps = append(resp.Steps, stepJSON{Name: s.Name, Status: s.Status, At: s.At, Compensation: s.Compensation})
	}
	// Only a GET may reveal: a HEAD (link checkers, prefetchers) has no body
	// to carry the key and would burn it.
	if r.Method == http.MethodGet && p.Status == store.StatusReady && p.APIKeyRef != "" && !p.APIKeyRevealed {
		// Take deletes as it reads, in one statement: of concurrent readers
		// exactly one gets the key; the others find it gone.
		key, err := h.Secrets.Take(ctx, p.APIKeyRef)
		switch {
		case err == nil:
			resp.APIKey = string(key)
			h.Log.Info("api key revealed", "saga_id", p.SagaID)
		case errors.Is(err, secrets.ErrNotFound):
		default:
			h.Log.Error("take api key", "saga_id", p.SagaID, "err", err)
			writeError(w, http.StatusServiceUnavailable, "temporarily unavailable; retry")
			return
		}
		resp.APIKeyRevealed = true
		// The flag only saves later reads a trip to the secret store: if it
		// is not written, they find the secret gone and say the same.
		if err := h.Store.MarkRevealed(context.WithoutCancel(ctx), p.CheckoutSessionID); err != nil {
			h.Log.Warn("mark api key revealed", "saga_id", p.SagaID, "err", err)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}
