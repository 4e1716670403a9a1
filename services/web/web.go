// Package web is the customer web app: the landing page with the plans,
// checkout (Stripe Checkout through the ingress, or a labelled dev checkout
// on embedded defaults), the success page that follows provisioning live
// and reveals the API key once to the browser that paid, sign-in by
// one-time email link, and the dashboard (instance state and health,
// streaming chat, memories, usage, skills, API keys, export, billing).
//
// It talks to the platform like every other service: it follows the bus
// for its accounts (internal/projector), calls the ingress's API for
// provisioning, reveals and Stripe sessions, and reaches each customer's
// instance through a server-side proxy that signs every request with a
// short-lived dashboard token (pkg/dashtoken) — the browser never holds an
// instance credential. See internal/ui for the routes and the rules.
//
// Settings: see Config.
package web

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/mail"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/web/internal/ingressapi"
	"clawdbot.cloud/services/web/internal/projector"
	"clawdbot.cloud/services/web/internal/store"
	"clawdbot.cloud/services/web/internal/ui"
)

// Run runs the web app until ctx ends. It is a service.Service.
func Run(ctx context.Context, env *service.Env) error {
	cfg := LoadConfig(env.Config)
	if err := env.Config.Err(); err != nil {
		return err
	}
	st, err := store.Open(ctx, env.DB)
	if err != nil {
		return err
	}
	m, err := ui.NewMetrics(env.Metrics)
	if err != nil {
		return err
	}
	var mailer ui.Mailer = smtpMailer{&cfg.SMTP}
	if cfg.SMTP.Addr == "" {
		mailer = keptMailer{st}
		env.Log.Warn("dev mode without SMTP_ADDR: mail is kept for /dev/mail, not sent")
	}
	instanceClient := env.TraceClient(&http.Client{
		// Instances are ours; a redirect from one is never followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	})
	srv, err := ui.New(ui.Options{
		Store:          st,
		Ingress:        &ingressapi.Client{BaseURL: cfg.IngressURL, InternalToken: cfg.InternalToken, HTTP: env.TraceClient(&http.Client{Timeout: 15 * time.Second})},
		Secrets:        env.Secrets,
		Mailer:         mailer,
		Metrics:        m,
		Log:            env.Log,
		PublicURL:      cfg.PublicURL,
		ControlURL:     cfg.ControlURL,
		Dev:            cfg.Dev,
		StripeCheckout: cfg.StripeCheckout,
		WebhookSecret:  cfg.WebhookSecret,
		SessionTTL:     cfg.SessionTTL,
		SessionIdle:    cfg.SessionIdle,
		LinkTTL:        cfg.LinkTTL,
		InstanceClient: instanceClient,
		Google:         ui.GoogleOAuth{ClientID: cfg.GoogleClientID, ClientSecret: cfg.GoogleClientSecret, BaseURL: cfg.GoogleOAuthBaseURL},
		Now:            env.Now,
	})
	if err != nil {
		return err
	}
	ln, err := env.Listen(ctx, cfg.Addr)
	if err != nil {
		return fmt.Errorf("web: listen on %s: %w", cfg.Addr, err)
	}
	hs := &http.Server{
		Handler:           env.TraceHandler(srv.Handler(), "web"),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: provisioning events and chat answers stream for
		// minutes; each stream sets its own write deadlines.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(env.Log.Handler(), slog.LevelWarn),
	}
	hs.RegisterOnShutdown(srv.EndStreams)
	env.Log.Info("web app listening", "addr", ln.Addr().String(), "public_url", cfg.PublicURL, "control_url", cfg.ControlURL, "dev", cfg.Dev)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { runProjector(gctx, env, st); return nil })
	g.Go(func() error { sweep(gctx, env, st); return nil })
	g.Go(func() error { return service.ServeHTTP(gctx, hs, ln, cfg.ShutdownTimeout) })
	return g.Wait()
}

// runProjector follows the bus until ctx ends, restarting the consumer
// with backoff: the pages keep answering whatever happens to the feed.
func runProjector(ctx context.Context, env *service.Env, st *store.Store) {
	env.Bus.RunRestarting(ctx, bus.ConsumerConfig{Name: projector.ConsumerName}, projector.Router(st, env.Now), env.Log)
}

// sweep deletes expired sessions, links and checkouts every few minutes.
func sweep(ctx context.Context, env *service.Env, st *store.Store) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		if n, err := st.Sweep(ctx); err != nil && ctx.Err() == nil {
			env.Log.Warn("sweep", "err", err)
		} else if n > 0 {
			env.Log.Debug("swept expired rows", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// smtpMailer sends through an SMTP submission server.
type smtpMailer struct{ s *mail.SMTP }

func (m smtpMailer) Send(ctx context.Context, to, subject, body string) error {
	return m.s.Send(ctx, mail.Mail{To: []string{to}, Subject: subject, Body: body})
}

// keptMailer keeps mail for the dev mailbox (dev mode without SMTP).
type keptMailer struct{ st *store.Store }

func (m keptMailer) Send(ctx context.Context, to, subject, body string) error {
	return m.st.KeepMail(ctx, store.KeptMail{To: to, Subject: subject, Body: body})
}
