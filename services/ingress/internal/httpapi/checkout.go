package httpapi

import (
	"context"
	"net/http"
	"strings"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/ingress/internal/billing"
)

// Billing creates Stripe sessions: *billing.Client. Nil when Stripe is not
// configured.
type Billing interface {
	Checkout(ctx context.Context, req billing.CheckoutRequest) (billing.Session, error)
	Portal(ctx context.Context, customerID string) (billing.Session, error)
}

// billingDisabled says what an operator must set to enable the endpoints.
func billingDisabled() string {
	env := []string{"STRIPE_SECRET_KEY", "CHECKOUT_SUCCESS_URL", "CHECKOUT_CANCEL_URL"}
	for _, p := range plans.All() {
		env = append(env, plans.PriceEnv(p.ID))
	}
	return "billing disabled: set " + strings.Join(env, ", ")
}

// checkoutHandler serves POST /v1/checkout {plan, email[, timezone]} →
// {id, url}: the Stripe Checkout page to send the browser to.
//
// Answers: 200 with the session; 400 with every reason for an invalid
// request; 413 for a body over 16 KiB; 502 when Stripe refused or failed
// (its message included); 503 when Stripe is not configured.
type checkoutHandler struct {
	Deps
}

// ServeHTTP creates one Checkout Session.
func (h *checkoutHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.Billing == nil {
		writeError(w, http.StatusServiceUnavailable, billingDisabled())
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	req, reasons := parseCheckout(body)
	if reasons != nil {
		writeInvalid(w, reasons)
		return
	}
	s, err := h.Billing.Checkout(r.Context(), req)
	if err != nil {
		h.Log.Error("checkout session", "plan", req.Plan.ID, "err", err)
		writeError(w, http.StatusBadGateway, billing.Describe(err))
		return
	}
	h.Log.Info("checkout session created", "plan", req.Plan.ID)
	writeJSON(w, http.StatusOK, s)
}

// portalHandler serves POST /v1/billing-portal {customer_id} → {url}.
//
// Whoever knows a customer id can open that customer's portal: put this
// endpoint behind the customer's own authentication (see README).
type portalHandler struct {
	Deps
}

// ServeHTTP creates one Billing Portal session.
func (h *portalHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.Billing == nil {
		writeError(w, http.StatusServiceUnavailable, billingDisabled())
		return
	}
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	customer, reasons := parsePortal(body)
	if reasons != nil {
		writeInvalid(w, reasons)
		return
	}
	s, err := h.Billing.Portal(r.Context(), customer)
	if err != nil {
		h.Log.Error("billing portal session", "customer_id", customer, "err", err)
		writeError(w, http.StatusBadGateway, billing.Describe(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"url": s.URL})
}
