package httpapi

import (
	"context"
	"crypto/sha256"
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
// A customer id is not a credential (it appears in events, logs and the
// admin API), and the portal can cancel the subscription: only the
// platform's web app, which authenticates the customer, may ask, with
// Authorization: Bearer $INGRESS_INTERNAL_TOKEN.
type portalHandler struct {
	Deps
	// tokenSum is the SHA-256 of the internal token; nil when disabled.
	tokenSum []byte
}

// newPortalHandler returns the portal handler of d.
func newPortalHandler(d Deps) *portalHandler {
	h := &portalHandler{Deps: d}
	if d.InternalToken != "" {
		sum := sha256.Sum256([]byte(d.InternalToken))
		h.tokenSum = sum[:]
	}
	return h
}

// ServeHTTP creates one Billing Portal session: 503 when the internal token
// is not set, 401 for a missing or wrong one (compared as SHA-256 sums in
// constant time), then as checkout.
func (h *portalHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if h.tokenSum == nil {
		writeError(w, http.StatusServiceUnavailable, "portal disabled: set INGRESS_INTERNAL_TOKEN")
		return
	}
	if !bearerMatches(r, h.tokenSum) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="clawdbot-internal"`)
		writeError(w, http.StatusUnauthorized, "internal token required: Authorization: Bearer <INGRESS_INTERNAL_TOKEN>")
		return
	}
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
