package ingress

import (
	"strings"
	"time"

	"clawdbot.cloud/pkg/config"
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
}

// LoadConfig reads the settings from l and returns every problem at once.
func LoadConfig(l *config.Loader) (Config, error) {
	c := Config{
		WebhookSecret:   l.Required("STRIPE_WEBHOOK_SECRET", "the signing secret (whsec_...) of the Stripe webhook endpoint"),
		Addr:            l.Addr("INGRESS_ADDR", "127.0.0.1:8080"),
		PublicURL:       strings.TrimRight(l.URL("PUBLIC_URL", "", "http", "https"), "/"),
		PublishTimeout:  l.Duration("INGRESS_PUBLISH_TIMEOUT", 5*time.Second),
		ShutdownTimeout: l.Duration("INGRESS_SHUTDOWN_TIMEOUT", 20*time.Second),
	}
	if c.PublishTimeout <= 0 {
		l.Problem("INGRESS_PUBLISH_TIMEOUT must be positive")
	}
	return c, l.Err()
}
