// Package ingress is the platform's public edge. It verifies Stripe webhooks
// and turns a completed subscription checkout into customer.signed_up, and
// subscription and invoice events into the customer.* lifecycle events, on
// JetStream, answering Stripe 2xx only once the event is durable; it serves
// the provisioning API that the checkout success page polls, fed by a
// projector that follows the sagas on the bus; it creates Stripe Checkout
// and Billing Portal sessions; and it fronts the saga's admin API for
// operators.
//
// HTTP API:
//
//	POST /webhooks/stripe                              Stripe webhook (Stripe-Signature verified)
//	GET  /v1/provisioning/{checkout_session_id}        signup status, steps (never the key)
//	POST /v1/provisioning/{checkout_session_id}/reveal {nonce} → the API key, once, to the starting browser
//	POST /v1/checkout                                  {plan, email, reveal_hash} → Stripe Checkout {id, url}
//	POST /v1/billing-portal                            (internal token) {customer_id} → Billing Portal {url}
//	GET  /v1/admin/customers/{customer_id}             (admin) a customer
//	POST /v1/admin/customers/{customer_id}/deprovision (admin) force-deprovision
//	GET  /v1/admin/sagas?status=failed                 (admin) sagas by status
//	GET  /v1/admin/sagas/{saga_id}                     (admin) one saga's steps
//	POST /v1/admin/sagas/{saga_id}/retry               (admin) retry a failed saga
//
// The Stripe endpoint must be configured with API version 2023-10-16
// (stripeevent.APIVersion) and the events checkout.session.completed
// (plus checkout.session.async_payment_succeeded when asynchronous payment
// methods are enabled), customer.subscription.updated,
// customer.subscription.trial_will_end, customer.subscription.deleted,
// invoice.paid and invoice.payment_failed.
package ingress

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/ingress/internal/billing"
	"clawdbot.cloud/services/ingress/internal/changes"
	"clawdbot.cloud/services/ingress/internal/expiry"
	"clawdbot.cloud/services/ingress/internal/httpapi"
	"clawdbot.cloud/services/ingress/internal/projector"
	"clawdbot.cloud/services/ingress/internal/store"
	"clawdbot.cloud/services/ingress/internal/stripeevent"
)

// Run is the ingress as a service.Service: it serves until ctx ends, then
// stops accepting connections, lets in-flight requests and projections
// finish, and returns.
func Run(ctx context.Context, env *service.Env) error {
	s, err := New(ctx, env)
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// Server is a started ingress: its listener is bound, so Addr is known
// before Serve (tests and `clawctl dev` bind port 0).
type Server struct {
	env  *service.Env
	cfg  Config
	ln   net.Listener
	http *http.Server
	proj *projector.Projector
	// sweeper deletes the keys nobody revealed within RevealTTL.
	sweeper *expiry.Sweeper
	// changes wakes provisioning reads waiting for a change.
	changes *changes.Feed
}

// New validates the configuration, migrates schema "ingress", registers the
// metrics and binds the listener. The caller must call Serve, which closes
// the listener.
func New(ctx context.Context, env *service.Env) (*Server, error) {
	cfg, err := LoadConfig(env.Config)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, env.DB)
	if err != nil {
		return nil, err
	}
	m, err := httpapi.NewMetrics(env.Metrics)
	if err != nil {
		return nil, err
	}
	feed := changes.New(env.Bus.Conn(), env.Log)
	deps := httpapi.Deps{
		Log:            env.Log,
		Verifier:       stripeevent.NewVerifier(cfg.WebhookSecret),
		Prices:         cfg.Prices,
		Publisher:      env.Bus,
		Store:          st,
		Secrets:        env.Secrets,
		Metrics:        m,
		PublishTimeout: cfg.PublishTimeout,
		Admin:          env.Bus.Conn(),
		AdminToken:     cfg.AdminToken,
		AdminTimeout:   cfg.AdminTimeout,
		InternalToken:  cfg.InternalToken,
		RevealTTL:      cfg.RevealTTL,
		RevealGrace:    cfg.RevealGrace,
		Now:            env.Now,
		LiveMode:       cfg.LiveMode(),
		RateLimits:     cfg.Limits.limiters(env.Now),
		Changes:        feed,
	}
	if cfg.CheckoutEnabled() {
		bc := billing.New(billing.Config{
			SecretKey: cfg.StripeSecretKey, APIBase: cfg.StripeAPIBase, Prices: cfg.Prices,
			SuccessURL: cfg.CheckoutSuccessURL, CancelURL: cfg.CheckoutCancelURL, PortalReturnURL: cfg.PortalReturnURL,
			HTTPClient: env.TraceClient(&http.Client{Timeout: 20 * time.Second}),
		})
		deps.Billing, deps.LineItems = bc, bc
	} else {
		env.Log.Info("checkout and billing portal disabled: STRIPE_SECRET_KEY is not set")
	}
	if cfg.AdminToken == "" {
		env.Log.Info("admin endpoints disabled: ADMIN_TOKEN is not set")
	}
	if cfg.InternalToken == "" {
		env.Log.Info("billing portal disabled: INGRESS_INTERNAL_TOKEN is not set")
	}
	handler := httpapi.New(deps)
	ln, err := env.Listen(ctx, cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ingress: listen on %s: %w", cfg.Addr, err)
	}
	return &Server{
		env: env,
		cfg: cfg,
		ln:  ln,
		http: &http.Server{
			Handler:           env.TraceHandler(handler, "ingress"),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       30 * time.Second,
			// Longer than a webhook may take (publish included), so a slow
			// bus gets its 503 written rather than a cut connection.
			WriteTimeout:   45 * time.Second,
			IdleTimeout:    2 * time.Minute,
			MaxHeaderBytes: 64 << 10,
			ErrorLog:       slog.NewLogLogger(env.Log.Handler(), slog.LevelWarn),
		},
		proj:    projector.New(st, feed, env.Now),
		changes: feed,
		sweeper: &expiry.Sweeper{
			Store: st, Secrets: env.Secrets, Log: env.Log, TTL: cfg.RevealTTL, Grace: cfg.RevealGrace,
			Interval: cfg.RevealSweepInterval, Now: env.Now, Expired: m.KeysExpired,
		},
	}, nil
}

// Addr is the address the public server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve runs the HTTP server, the projector and the reveal sweeper until
// ctx ends or one fails. On shutdown the server stops accepting, in-flight requests get
// ShutdownTimeout to finish, and the projector drains its handlers.
func (s *Server) Serve(ctx context.Context) error {
	log := s.env.Log
	webhookURL := s.cfg.PublicURL + "/webhooks/stripe"
	if s.cfg.PublicURL == "" {
		webhookURL = "http://" + s.Addr() + "/webhooks/stripe"
	}
	log.Info("ingress listening", "addr", s.Addr(), "webhook_url", webhookURL, "stripe_api_version", stripeevent.APIVersion)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { s.runProjector(gctx); return nil })
	g.Go(func() error { s.sweeper.Run(gctx); return nil })
	g.Go(func() error { s.changes.Run(gctx); return nil })
	g.Go(func() error { return service.ServeHTTP(gctx, s.http, s.ln, s.cfg.ShutdownTimeout) })
	return g.Wait()
}

// runProjector runs the projector's consumer until ctx ends, restarting it
// with backoff rather than failing the service: the webhook must keep
// answering (503 at worst) whatever happens to the read model's feed.
func (s *Server) runProjector(ctx context.Context) {
	s.env.Bus.RunRestarting(ctx, bus.ConsumerConfig{Name: projector.ConsumerName}, s.proj.Router(), s.env.Log)
}
