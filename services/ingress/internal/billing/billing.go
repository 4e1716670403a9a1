// Package billing creates the Stripe sessions customers are sent to: a
// Checkout Session to subscribe to a plan, and a Billing Portal session to
// manage (upgrade, downgrade, cancel, update the card of) a subscription.
// It speaks the Stripe API through stripe-go v76, against api.stripe.com or
// any base URL (stripe-mock in tests).
package billing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/stripe/stripe-go/v76"
	portalsession "github.com/stripe/stripe-go/v76/billingportal/session"
	checkoutsession "github.com/stripe/stripe-go/v76/checkout/session"

	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// ErrNoPrice is returned for a plan without a configured Stripe price.
var ErrNoPrice = errors.New("no Stripe price configured for the plan")

// Config is what the client needs.
type Config struct {
	// SecretKey is the Stripe secret key (sk_...). Never logged.
	SecretKey string
	// APIBase replaces https://api.stripe.com when set.
	APIBase string
	// Prices maps plans to their Stripe prices.
	Prices plans.Prices
	// SuccessURL carries {CHECKOUT_SESSION_ID}; CancelURL is where an
	// abandoned checkout returns; PortalReturnURL (optional) is the
	// portal's way back.
	SuccessURL, CancelURL, PortalReturnURL string
	// HTTPClient is the client to Stripe; a 20 s timeout by default.
	HTTPClient *http.Client
}

// Client creates Stripe sessions. It is safe for concurrent use.
type Client struct {
	cfg      Config
	checkout checkoutsession.Client
	portal   portalsession.Client
}

// New returns a Client for cfg.
func New(cfg Config) *Client {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 20 * time.Second}
	}
	bc := &stripe.BackendConfig{
		HTTPClient: cfg.HTTPClient,
		// Errors are logged by the caller, with its attributes.
		LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull},
		// One retry on network errors and 409/5xx; stripe-go sends an
		// idempotency key with it, so it never creates two sessions.
		MaxNetworkRetries: stripe.Int64(1),
	}
	if cfg.APIBase != "" {
		bc.URL = stripe.String(cfg.APIBase)
	}
	b := stripe.GetBackendWithConfig(stripe.APIBackend, bc)
	return &Client{
		cfg:      cfg,
		checkout: checkoutsession.Client{B: b, Key: cfg.SecretKey},
		portal:   portalsession.Client{B: b, Key: cfg.SecretKey},
	}
}

// CheckoutRequest is a validated request to subscribe.
type CheckoutRequest struct {
	Plan  plans.Plan
	Email string
	// Timezone is an IANA zone name or "".
	Timezone string
	// RevealHash is the lowercase hex SHA-256 of the starting browser's
	// nonce, or "": it binds the key reveal to that browser.
	RevealHash string
}

// Session is a created Stripe session: where to send the browser.
type Session struct {
	ID  string `json:"id"`
	URL string `json:"url"`
}

// Checkout creates a subscription-mode Checkout Session for the plan's
// price, with the plan's trial, metadata.plan (which the webhook maps back
// to the plan) and the success URL that leads to the provisioning page.
func (c *Client) Checkout(ctx context.Context, req CheckoutRequest) (Session, error) {
	price, ok := c.cfg.Prices.PriceID(req.Plan.ID)
	if !ok {
		return Session{}, fmt.Errorf("checkout %s: %w", req.Plan.ID, ErrNoPrice)
	}
	// The webhook reads these back (stripeevent.Signup).
	meta := map[string]string{stripeevent.MetadataPlan: req.Plan.ID}
	if req.Timezone != "" {
		meta[stripeevent.MetadataTimezone] = req.Timezone
	}
	if req.RevealHash != "" {
		meta[stripeevent.MetadataRevealHash] = req.RevealHash
	}
	params := &stripe.CheckoutSessionParams{
		Mode:          stripe.String(string(stripe.CheckoutSessionModeSubscription)),
		LineItems:     []*stripe.CheckoutSessionLineItemParams{{Price: stripe.String(price), Quantity: stripe.Int64(1)}},
		CustomerEmail: stripe.String(req.Email),
		SuccessURL:    stripe.String(c.cfg.SuccessURL),
		CancelURL:     stripe.String(c.cfg.CancelURL),
		Metadata:      meta,
		// The subscription carries the plan too, for whoever reads it in
		// the Dashboard; the price stays what plan changes are read from.
		SubscriptionData: &stripe.CheckoutSessionSubscriptionDataParams{
			Metadata: map[string]string{stripeevent.MetadataPlan: req.Plan.ID},
		},
	}
	if req.Plan.TrialDays > 0 {
		params.SubscriptionData.TrialPeriodDays = stripe.Int64(int64(req.Plan.TrialDays))
	}
	params.Context = ctx
	s, err := c.checkout.New(params)
	if err != nil {
		return Session{}, fmt.Errorf("create checkout session: %w", err)
	}
	return Session{ID: s.ID, URL: s.URL}, nil
}

// Portal creates a Billing Portal session for the customer and returns it.
func (c *Client) Portal(ctx context.Context, customerID string) (Session, error) {
	params := &stripe.BillingPortalSessionParams{Customer: stripe.String(customerID)}
	if c.cfg.PortalReturnURL != "" {
		params.ReturnURL = stripe.String(c.cfg.PortalReturnURL)
	}
	params.Context = ctx
	s, err := c.portal.New(params)
	if err != nil {
		return Session{}, fmt.Errorf("create billing portal session: %w", err)
	}
	return Session{ID: s.ID, URL: s.URL}, nil
}

// Describe returns what of err may be shown to a caller: Stripe's own
// message and code for an API error, a generic text otherwise (network
// errors may carry internal addresses).
func Describe(err error) string {
	var se *stripe.Error
	if errors.As(err, &se) {
		msg := "stripe: " + se.Msg
		if se.Code != "" {
			msg += " (" + string(se.Code) + ")"
		}
		return msg
	}
	return "stripe unreachable"
}
