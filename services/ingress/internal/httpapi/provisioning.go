package httpapi

import (
	"errors"
	"net/http"
	"time"

	"clawdbot.cloud/services/ingress/internal/store"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// provisioningHandler serves GET /v1/provisioning/{checkout_session_id}: the
// page Stripe's success URL leads to polls it until the instance is ready.
//
// Whoever knows the Checkout Session id may read it, as with Stripe's own
// success-page design ({CHECKOUT_SESSION_ID} in the success URL), so it
// never carries the API key: the key is revealed once, by POST .../reveal,
// to the browser holding the nonce the checkout was bound to. Responses are
// never cached (no-store).
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
	// APIKeyAvailable is true while POST .../reveal can hand out the key:
	// ready, a reveal hash was bound, not revealed, not expired.
	APIKeyAvailable bool `json:"api_key_available"`
	// APIKeyRevealed is true once the key has been handed out.
	APIKeyRevealed bool   `json:"api_key_revealed"`
	FailureReason  string `json:"failure_reason"`
	// CustomerState is the customer's lifecycle state (active, past_due,
	// suspended, canceled, archived, deleted) once the saga reported one.
	CustomerState string `json:"customer_state,omitempty"`
}

// stepJSON is one step of the response.
type stepJSON struct {
	Name         string    `json:"name"`
	Status       string    `json:"status"`
	At           time.Time `json:"at"`
	Compensation bool      `json:"compensation,omitempty"`
}

// ServeHTTP answers one read; it never changes anything.
func (h *provisioningHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	id := r.PathValue("checkout_session_id")
	if !stripeevent.ValidCheckoutSessionID(id) {
		writeError(w, http.StatusBadRequest, "invalid checkout session id")
		return
	}
	p, err := h.Store.Lookup(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "unknown checkout session")
		return
	}
	if err != nil {
		h.Log.Error("provisioning lookup", "checkout_ref", stripeevent.Ref(id), "err", err)
		writeError(w, http.StatusServiceUnavailable, "temporarily unavailable; retry")
		return
	}
	resp := provisioningResponse{
		CheckoutSessionID: p.CheckoutSessionID,
		Status:            p.Status,
		Steps:             make([]stepJSON, 0, len(p.Steps)),
		InstanceURL:       p.InstanceURL,
		APIKeyAvailable:   p.Status == store.StatusReady && p.RevealHash != "" && p.APIKeyRef != "" && !p.APIKeyRevealed && !h.expired(p),
		APIKeyRevealed:    p.APIKeyRevealed,
		FailureReason:     p.FailureReason,
		CustomerState:     p.CustomerState,
	}
	for _, s := range p.Steps {
		resp.Steps = append(resp.Steps, stepJSON{Name: s.Name, Status: s.Status, At: s.At, Compensation: s.Compensation})
	}
	writeJSON(w, http.StatusOK, resp)
}

// expired reports whether p's key may no longer be revealed: the sweeper
// deleted it, or it has been ready for RevealTTL, swept or not.
func (d Deps) expired(p store.Provisioning) bool {
	return p.APIKeyExpired || (!p.ReadyAt.IsZero() && !d.Now().Before(p.ReadyAt.Add(d.RevealTTL)))
}
