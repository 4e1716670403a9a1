package web

import (
	"net"
	"net/url"
	"strings"
	"time"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/mail"
	"clawdbot.cloud/services/web/internal/ui"
)

// Config is the web app's settings, read from the environment.
type Config struct {
	// Addr (WEB_ADDR, default 127.0.0.1:3000) is where the app listens.
	Addr string
	// PublicURL (WEB_PUBLIC_URL, default http://<WEB_ADDR>) is the app as
	// browsers reach it: sign-in links, the Origin check, and Secure
	// cookies when it is https.
	PublicURL string
	// ControlURL (WEB_CONTROL_URL, default ui.DefaultControlURL: http://
	// control.localhost:<port> for a loopback WEB_PUBLIC_URL, else
	// control.<its host>) is the OpenClaw Control UI's own origin. The
	// same listener serves it, told apart by the Host header, so a TLS
	// proxy in front must route that host here too and pass Host on.
	// WEB_CONTROL_URL=off turns the Control UI off.
	ControlURL string
	// IngressURL (INGRESS_URL, default http://127.0.0.1:8080) is the
	// ingress's API as this app reaches it.
	IngressURL string
	// InternalToken (INGRESS_INTERNAL_TOKEN) opens the ingress's billing
	// portal endpoint; without it "Manage billing" is unavailable.
	InternalToken string
	// Dev (WEB_DEV_MODE=true) enables the dev checkout, dev billing buttons
	// and the dev mailbox. Refused on a non-loopback address.
	Dev bool
	// WebhookSecret (STRIPE_WEBHOOK_SECRET, dev mode) signs dev events.
	WebhookSecret string
	// StripeCheckout (WEB_STRIPE_CHECKOUT=true; by default true when
	// STRIPE_SECRET_KEY is set, as in one-process dev mode) sends customers
	// to Stripe Checkout through the ingress. The web app never needs the
	// key itself: in production give it only WEB_STRIPE_CHECKOUT.
	StripeCheckout bool
	// SMTP (SMTP_ADDR, SMTP_FROM, SMTP_USERNAME, SMTP_PASSWORD) sends
	// sign-in links; in dev mode without SMTP_ADDR mail is kept for the
	// dev mailbox instead.
	SMTP mail.SMTP
	// SessionTTL (WEB_SESSION_TTL, default 7 days), SessionIdle
	// (WEB_SESSION_IDLE, default 24h), LinkTTL (WEB_LINK_TTL, default 15m).
	SessionTTL, SessionIdle, LinkTTL time.Duration
	// GoogleClientID, GoogleClientSecret (GOOGLE_CLIENT_ID,
	// GOOGLE_CLIENT_SECRET) are the platform's Google OAuth client: with
	// them Pro and Team customers can connect Gmail and Calendar. The same
	// client must reach the runtimes (they refresh and revoke). Google's
	// redirect URI to register: WEB_PUBLIC_URL + /google/callback.
	// GoogleOAuthBaseURL (GOOGLE_OAUTH_BASE_URL) replaces Google's OAuth
	// hosts (a test server).
	GoogleClientID, GoogleClientSecret, GoogleOAuthBaseURL string
	// ShutdownTimeout (WEB_SHUTDOWN_TIMEOUT, default 10s) bounds in-flight
	// requests at shutdown.
	ShutdownTimeout time.Duration
}

// LoadConfig reads the settings from l; every problem is in l.Err().
func LoadConfig(l *config.Loader) Config {
	c := Config{
		Addr:            l.Addr("WEB_ADDR", "127.0.0.1:3000"),
		PublicURL:       strings.TrimRight(l.URL("WEB_PUBLIC_URL", "", "http", "https"), "/"),
		IngressURL:      strings.TrimRight(l.URL("INGRESS_URL", "http://127.0.0.1:8080", "http", "https"), "/"),
		InternalToken:   l.String("INGRESS_INTERNAL_TOKEN", ""),
		Dev:             l.String("WEB_DEV_MODE", "") == "true",
		WebhookSecret:   l.String("STRIPE_WEBHOOK_SECRET", ""),
		StripeCheckout:  l.Bool("WEB_STRIPE_CHECKOUT", l.String("STRIPE_SECRET_KEY", "") != ""),
		SessionTTL:      l.Duration("WEB_SESSION_TTL", 7*24*time.Hour),
		SessionIdle:     l.Duration("WEB_SESSION_IDLE", 24*time.Hour),
		LinkTTL:         l.Duration("WEB_LINK_TTL", 15*time.Minute),
		ShutdownTimeout: l.Duration("WEB_SHUTDOWN_TIMEOUT", 10*time.Second),

		GoogleClientID:     l.String("GOOGLE_CLIENT_ID", ""),
		GoogleClientSecret: l.String("GOOGLE_CLIENT_SECRET", ""),
		GoogleOAuthBaseURL: strings.TrimRight(l.URL("GOOGLE_OAUTH_BASE_URL", "", "http", "https"), "/"),
		SMTP: mail.SMTP{
			Addr: l.String("SMTP_ADDR", ""), From: l.String("SMTP_FROM", ""),
			Username: l.String("SMTP_USERNAME", ""), Password: l.String("SMTP_PASSWORD", ""),
		},
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.Addr
	}
	switch control := l.String("WEB_CONTROL_URL", ""); control {
	case "off":
	case "":
		if c.ControlURL = ui.DefaultControlURL(c.PublicURL); c.ControlURL == "" {
			l.Problem("WEB_PUBLIC_URL %s is an IP address: set WEB_CONTROL_URL (the OpenClaw Control UI's own origin) or WEB_CONTROL_URL=off", c.PublicURL)
		}
	default:
		c.ControlURL = controlURL(l, control, c.PublicURL)
	}
	if c.Dev {
		host, _, _ := net.SplitHostPort(c.Addr)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			l.Problem("WEB_DEV_MODE serves a dev checkout and mailbox: WEB_ADDR must be a loopback address, not %s", c.Addr)
		}
		if !c.StripeCheckout && c.WebhookSecret == "" {
			l.Problem("WEB_DEV_MODE without STRIPE_SECRET_KEY signs dev checkouts: set STRIPE_WEBHOOK_SECRET")
		}
	}
	if !c.Dev && c.SMTP.Addr == "" {
		l.Problem("SMTP_ADDR is required outside dev mode: sign-in links go by email")
	}
	if c.SMTP.Addr != "" && c.SMTP.From == "" {
		l.Problem("SMTP_FROM is required with SMTP_ADDR")
	}
	if (c.GoogleClientID == "") != (c.GoogleClientSecret == "") {
		l.Problem("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET go together")
	}
	if c.InternalToken != "" && len(c.InternalToken) < 32 {
		l.Problem("INGRESS_INTERNAL_TOKEN must be at least 32 characters")
	}
	for name, d := range map[string]time.Duration{"WEB_SESSION_TTL": c.SessionTTL, "WEB_SESSION_IDLE": c.SessionIdle, "WEB_LINK_TTL": c.LinkTTL} {
		if d <= 0 {
			l.Problem("%s must be positive", name)
		}
	}
	return c
}

// controlURL checks WEB_CONTROL_URL: an origin (scheme and host, no path)
// that is not the web app's own, https when the web app is.
func controlURL(l *config.Loader, raw, publicURL string) string {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "":
		l.Problem("WEB_CONTROL_URL must be an origin such as https://control.app.example.com, not %q", raw)
		return ""
	case strings.EqualFold(u.Scheme+"://"+u.Host, strings.TrimRight(publicURL, "/")):
		l.Problem("WEB_CONTROL_URL must be another origin than WEB_PUBLIC_URL: the Control UI must not share the web app's")
	case strings.HasPrefix(publicURL, "https://") && u.Scheme != "https":
		l.Problem("WEB_CONTROL_URL must be https when WEB_PUBLIC_URL is")
	}
	return u.Scheme + "://" + u.Host
}
