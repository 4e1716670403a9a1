package ingress

import (
	"strings"
	"time"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/plans"
)

// Config is the ingress's own settings, read from the environment.
type Config struct {
	// WebhookSecret (STRIPE_WEBHOOK_SECRET, required) is the signing secret
	// of the Stripe webhook endpoint (whsec_...). Never logged.
	WebhookSecret string
	// Addr (INGRESS_ADDR, default 127.0.0.1:8080) is where the public HTTP
	// server listens; behind a TLS-terminating proxy in production.
	Addr string
	// PublicURL (PUBLIC_URL, optional) is the ingress's address as Stripe
	// and browsers see it, used to tell the operator the webhook URL.
	PublicURL string
	// PublishTimeout (INGRESS_PUBLISH_TIMEOUT, default 5s) bounds the wait
	// for the stream's acknowledgement of a webhook's event.
	PublishTimeout time.Duration
	// ShutdownTimeout (INGRESS_SHUTDOWN_TIMEOUT, default 20s) bounds how
	// long in-flight requests may finish once shutdown begins.
	ShutdownTimeout time.Duration

	// Prices maps Stripe price ids to plans: STRIPE_PRICE_<PLAN> for every
	// catalog plan (STRIPE_PRICE_STARTER, _PRO, _TEAM). Required with
	// STRIPE_SECRET_KEY; without it, unset ones default to
	// plans.DevPriceID (what clawctl and tests send).
	Prices plans.Prices
	// StripeSecretKey (STRIPE_SECRET_KEY, optional) enables POST
	// /v1/checkout and /v1/billing-portal. Never logged.
	StripeSecretKey string
	// StripeAPIBase (STRIPE_API_BASE, optional) replaces
	// https://api.stripe.com, e.g. with stripe-mock.
	StripeAPIBase string
	// CheckoutSuccessURL (CHECKOUT_SUCCESS_URL, required with the secret
	// key) is where Stripe sends the paying browser; it must carry
	// {CHECKOUT_SESSION_ID} so the page can follow provisioning.
	CheckoutSuccessURL string
	// CheckoutCancelURL (CHECKOUT_CANCEL_URL, required with the secret key)
	// is where an abandoned checkout returns.
	CheckoutCancelURL string
	// PortalReturnURL (BILLING_PORTAL_RETURN_URL, optional) is where the
	// billing portal's "return" link leads; Stripe's portal default if unset.
	PortalReturnURL string

	// AdminToken (ADMIN_TOKEN, optional, ≥ 32 characters) is the Bearer
	// token of /v1/admin/...; unset disables the admin endpoints (503).
	AdminToken string
	// AdminTimeout (INGRESS_ADMIN_TIMEOUT, default 5s) bounds one request
	// to the saga's admin API.
	AdminTimeout time.Duration

	// InternalToken (INGRESS_INTERNAL_TOKEN, optional, ≥ 32 characters) is
	// the Bearer token of POST /v1/billing-portal, held by the platform's
	// web app (which authenticates customers); unset disables it (503).
	InternalToken string
	// RevealTTL (INGRESS_REVEAL_TTL, default 24h) is how long after ready
	// an unrevealed API key may be revealed; then it is deleted.
	RevealTTL time.Duration
	// RevealGrace (INGRESS_REVEAL_GRACE, default 2m; 0 = none) is how long
	// after the first reveal the same browser may reveal the key again, so
	// an answer lost to a crash or a dropped connection does not lose the
	// key; then the key is deleted.
	RevealGrace time.Duration
	// RevealSweepInterval (INGRESS_REVEAL_SWEEP_INTERVAL, default 5m) is
	// how often the sweeper deletes expired unrevealed keys.
	RevealSweepInterval time.Duration
	// Limits are the per-client rate limits of the public endpoints
	// (INGRESS_RATELIMIT_*, INGRESS_TRUSTED_PROXIES).
	Limits Limits
}

// minAdminToken is the shortest admin (and internal) token accepted: a
// guessable token on a public edge would hand out force-deprovision, or
// any customer's billing portal.
const minAdminToken = 32

// LoadConfig reads the settings from l and returns every problem at once.
func LoadConfig(l *config.Loader) (Config, error) {
	c := Config{
		WebhookSecret:       l.Required("STRIPE_WEBHOOK_SECRET", "the signing secret (whsec_...) of the Stripe webhook endpoint"),
		Addr:                l.Addr("INGRESS_ADDR", "127.0.0.1:8080"),
		PublicURL:           strings.TrimRight(l.URL("PUBLIC_URL", "", "http", "https"), "/"),
		PublishTimeout:      l.Duration("INGRESS_PUBLISH_TIMEOUT", 5*time.Second),
		ShutdownTimeout:     l.Duration("INGRESS_SHUTDOWN_TIMEOUT", 20*time.Second),
		StripeSecretKey:     l.String("STRIPE_SECRET_KEY", ""),
		StripeAPIBase:       strings.TrimRight(l.URL("STRIPE_API_BASE", "", "http", "https"), "/"),
		CheckoutSuccessURL:  l.URL("CHECKOUT_SUCCESS_URL", "", "http", "https"),
		CheckoutCancelURL:   l.URL("CHECKOUT_CANCEL_URL", "", "http", "https"),
		PortalReturnURL:     l.URL("BILLING_PORTAL_RETURN_URL", "", "http", "https"),
		AdminToken:          l.String("ADMIN_TOKEN", ""),
		AdminTimeout:        l.Duration("INGRESS_ADMIN_TIMEOUT", 5*time.Second),
		InternalToken:       l.String("INGRESS_INTERNAL_TOKEN", ""),
		RevealTTL:           l.Duration("INGRESS_REVEAL_TTL", 24*time.Hour),
		RevealGrace:         l.Duration("INGRESS_REVEAL_GRACE", 2*time.Minute),
		RevealSweepInterval: l.Duration("INGRESS_REVEAL_SWEEP_INTERVAL", 5*time.Minute),
		Limits:              loadLimits(l),
	}
	if c.PublishTimeout <= 0 {
		l.Problem("INGRESS_PUBLISH_TIMEOUT must be positive")
	}
	if c.AdminTimeout <= 0 {
		l.Problem("INGRESS_ADMIN_TIMEOUT must be positive")
	}
	if c.AdminToken != "" && len(c.AdminToken) < minAdminToken {
		l.Problem("ADMIN_TOKEN must be at least %d characters (e.g. openssl rand -hex 32)", minAdminToken)
	}
	if c.InternalToken != "" && len(c.InternalToken) < minAdminToken {
		l.Problem("INGRESS_INTERNAL_TOKEN must be at least %d characters (e.g. openssl rand -hex 32)", minAdminToken)
	}
	if c.RevealTTL <= 0 {
		l.Problem("INGRESS_REVEAL_TTL must be positive")
	}
	if c.RevealGrace < 0 || c.RevealGrace > time.Hour {
		l.Problem("INGRESS_REVEAL_GRACE must be between 0 (none) and 1h: the key stays stored that long after it was shown")
	}
	if c.RevealSweepInterval <= 0 {
		l.Problem("INGRESS_REVEAL_SWEEP_INTERVAL must be positive")
	}
	live := c.StripeSecretKey != ""
	if live && !validKeyPrefix(c.StripeSecretKey) {
		l.Problem("STRIPE_SECRET_KEY must be a Stripe secret or restricted key (sk_test_..., sk_live_..., rk_test_..., rk_live_...)")
	}
	if live {
		if c.CheckoutSuccessURL == "" {
			l.Problem("CHECKOUT_SUCCESS_URL is required with STRIPE_SECRET_KEY")
		}
		if c.CheckoutCancelURL == "" {
			l.Problem("CHECKOUT_CANCEL_URL is required with STRIPE_SECRET_KEY")
		}
	}
	if c.CheckoutSuccessURL != "" && !strings.Contains(c.CheckoutSuccessURL, "{CHECKOUT_SESSION_ID}") {
		l.Problem("CHECKOUT_SUCCESS_URL must contain {CHECKOUT_SESSION_ID} (e.g. https://app.example/welcome?session_id={CHECKOUT_SESSION_ID})")
	}
	byPlan := map[string]string{}
	for _, p := range plans.All() {
		key := plans.PriceEnv(p.ID)
		switch v, ok := l.Lookup(key); {
		case ok:
			byPlan[p.ID] = v
		case live:
			l.Problem("%s is required with STRIPE_SECRET_KEY: the Stripe price (price_...) of plan %s", key, p.ID)
		default:
			byPlan[p.ID] = plans.DevPriceID(p.ID)
		}
	}
	prices, err := plans.NewPrices(byPlan)
	if err != nil && len(byPlan) == len(plans.All()) {
		l.Problem("%v", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	c.Prices = prices
	return c, l.Err()
}

// LiveMode reports whether the configured Stripe key is a live-mode key
// (sk_live_, rk_live_). Webhook events must carry the same livemode: a
// test-mode event at a live ingress (or the reverse) is refused. Without a
// key (dev) the ingress is in test mode.
func (c Config) LiveMode() bool {
	return strings.HasPrefix(c.StripeSecretKey, "sk_live_") || strings.HasPrefix(c.StripeSecretKey, "rk_live_")
}

// validKeyPrefix reports whether key has the prefix of a Stripe secret or
// restricted key, whose mode LiveMode can tell.
func validKeyPrefix(key string) bool {
	for _, p := range []string{"sk_test_", "sk_live_", "rk_test_", "rk_live_"} {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// CheckoutEnabled reports whether checkout and billing-portal sessions can
// be created.
func (c Config) CheckoutEnabled() bool { return c.StripeSecretKey != "" }
