// Package runtime is a customer's Clawdbot instance: the HTTP server the
// customer's clients talk to, backed by the customer's own database.
//
// In production it runs as its own process (cmd/runtime), one per customer.
// The process compute driver writes its Config as one JSON document to the
// child's stdin — never argv, which any local user can read in
// /proc/<pid>/cmdline. Where nothing writes stdin (Railway), the same
// document comes from the environment variable RUNTIME_CONFIG_JSON. Tests and
// the operator's dev mode call Run or Serve in-process instead.
//
// On start it migrates the customer's database (customerdb.Migrate, a no-op
// when up to date), then serves the API of package httpapi — chat with the
// customer's workspace and memories, memory search, skills, workspace
// export, /health and /status — until its context is canceled.
//
// The model provider is chosen from the process environment the compute
// service forwards (ANTHROPIC_API_KEY and ANTHROPIC_BASE_URL, or
// OPENAI_BASE_URL and OPENAI_API_KEY for an OpenAI-compatible server) and
// the optional provider and model fields of the configuration. With none
// configured the instance still serves everything but chat, which answers
// 503 naming what to set.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/pkg/telemetry"
	"clawdbot.cloud/services/runtime/internal/chat"
	"clawdbot.cloud/services/runtime/internal/config"
	"clawdbot.cloud/services/runtime/internal/httpapi"
	"clawdbot.cloud/services/runtime/internal/ratelimit"
)

// Config is the runtime's configuration, one JSON document:
// {"customer_id","plan","listen_addr","database_url","instance_id","version"}
// and the optional "provider", "model", "dashboard_origin",
// "instance_token", "rate_per_second", "rate_burst", "public_url". See the fields for
// their meaning and Config.Validate for the rules.
type Config = config.Config

// Server limits. WriteTimeout is generous because responses stream model
// output; handlers that stream longer extend their own deadline with
// http.ResponseController.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 32 << 10
	// shutdownTimeout bounds the wait for in-flight requests on shutdown; the
	// supervisor's kill timeout must be longer.
	shutdownTimeout = 10 * time.Second
	// maxDBConns keeps one customer's instance from hogging its database
	// server's connections.
	maxDBConns = 4
	// dbIdle closes a database connection unused this long. An idle
	// instance (the health service probes it every 30 s) then holds no
	// backend on the customers' server most of the time: thousands of
	// instances share one server's max_connections and memory instead of
	// pinning a backend (several MB) each. Opening one again costs a few
	// milliseconds.
	dbIdle = 5 * time.Second
	// dbHealthMaxAge is how long /health trusts the database's last answer
	// (dbHealth): a probe every 30 s then opens a backend once an hour, not
	// every time. At 5 minutes, 1,000 idle instances started 3.3 backends a
	// second on the shared server (~40 ms of its CPU each here: an eighth of
	// a core), and on Neon a ping every 5 minutes is exactly the default
	// suspend timeout of a customer's compute, so an idle customer's
	// database would never scale to zero. A request that needs the database
	// still fails at once; only the monitor learns of a database lost while
	// the instance is idle up to an hour late.
	dbHealthMaxAge = time.Hour
	// modelTimeout bounds one model call, streamed or not.
	modelTimeout = 2 * time.Minute
	// maxReplyTokens bounds one reply.
	maxReplyTokens = 4096
	// Per-key rate limit: a burst of 30 requests, then 5 per second. A
	// dashboard loading several lists fits in the burst; a leaked key in a
	// loop does not hammer the database or the model.
	rateBurst     = 30
	ratePerSecond = 5
)

// Options tune an instance beyond its Config; tests and benchmarks use
// them. The zero value is production's.
type Options struct {
	// ModelTimeout bounds one model call (default 2 minutes).
	ModelTimeout time.Duration
	// RatePerSecond and RateBurst override the configuration's per-key
	// rate limit; a negative RatePerSecond disables it.
	RatePerSecond float64
	RateBurst     int
	// Now is the clock (time.Now).
	Now func() time.Time
	// MaxSteps and TurnTimeout override the configuration's limits of a
	// chat turn (max_tool_steps, turn_timeout_seconds).
	MaxSteps    int
	TurnTimeout time.Duration
	// FetchAllow opens these address ranges to the web_fetch tool and the
	// browser despite the address rules (loopback for a test's page). It
	// is for tests and the operator's dev mode only: the configuration
	// document cannot set it, so a production runtime never has it.
	FetchAllow []netip.Prefix
	// DBIdle closes a database connection unused this long (5 seconds).
	DBIdle time.Duration
	// DBHealthMaxAge is how long /health trusts the database's last answer
	// before a probe of an idle instance opens a connection to ask again
	// (5 minutes; see dbHealth).
	DBHealthMaxAge time.Duration
	// BrowserIdle stops the browser after this long unused (5 minutes).
	BrowserIdle time.Duration
	// TelegramPollTimeout is the Telegram channel's long-poll timeout
	// (25 seconds).
	TelegramPollTimeout time.Duration
	// OpenClawStateDir is the OpenClaw gateway's state directory on the
	// openclaw engine (default "openclaw" in the working directory, which
	// the process driver makes private to the customer).
	OpenClawStateDir string
	// OpenClawBackoff is the first wait before restarting a gateway that
	// died (1 second), doubling up to 30 seconds.
	OpenClawBackoff time.Duration
}

// Run serves the instance described by cfg on cfg.ListenAddr until ctx is
// canceled, then shuts down gracefully and returns nil. It returns an error
// if the configuration is invalid, the database cannot be migrated, the
// address cannot be listened on, or the server fails.
func Run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	return Serve(ctx, cfg, ln, log)
}

// Serve is Run on a listener the caller opened (port 0 in tests); it ignores
// cfg.ListenAddr and closes ln when it returns.
func Serve(ctx context.Context, cfg Config, ln net.Listener, log *slog.Logger) error {
	return ServeWith(ctx, cfg, ln, log, Options{})
}

// ServeWith is Serve with Options.
func ServeWith(ctx context.Context, cfg Config, ln net.Listener, log *slog.Logger, opts Options) error {
	defer ln.Close()
	plan, err := checkConfig(cfg)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg.DatabaseURL, opts, false)
	if err != nil {
		return err
	}
	defer db.close()
	return serve(ctx, cfg, plan, db, ln, log, opts)
}

// serve is ServeWith on the customer's database, open: checked cfg and its
// plan.
func serve(ctx context.Context, cfg Config, plan plans.Plan, db *customerDB, ln net.Listener, log *slog.Logger, opts Options) error {
	log = log.With("service", "runtime", "customer_id", cfg.CustomerID, "instance_id", cfg.InstanceID)
	pool, dbCheck, act := db.pool, db.check, db.act
	if err := customerdb.Migrate(ctx, pool); err != nil {
		return err
	}
	// The storage cap holds from the first write, also on a database the
	// workspace service has not recorded a plan in.
	if err := customerdb.EnsurePlan(ctx, pool, plan); err != nil {
		return err
	}

	opts = opts.withDefaults(cfg)
	// Model calls outlive their client's request (package chat) but not
	// the instance: canceled once shutdown has given requests their time.
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	defer endLife()
	provider, hint := newProvider(cfg)
	model := cfg.Model
	if model == "" {
		model = plan.Model
	}
	var oc *openclawEngine
	if plan.Engine == plans.EngineOpenClaw {
		// The runtime stays the front door; chat goes to the gateway.
		var err error
		if oc, err = newGateway(ctx, cfg, plan, model, pool, opts, log); err != nil {
			return err
		}
		if oc != nil {
			provider = oc.provider
		}
	}
	if provider == nil {
		log.Warn("no model provider configured: chat answers 503", "hint", hint)
	}
	box, stopBrowser := newTools(cfg, pool, provider, opts, log)
	defer stopBrowser()
	var googleAPI httpapi.GoogleAccount
	if g := newGoogle(cfg, pool, opts, log); g != nil {
		box.Google, googleAPI = g, g
	}
	chatService := &chat.Service{
		DB:          pool,
		Plan:        plan,
		Model:       model,
		Provider:    provider,
		Hint:        hint,
		Timeout:     opts.ModelTimeout,
		TurnTimeout: opts.TurnTimeout,
		MaxSteps:    opts.MaxSteps,
		MaxTokens:   maxReplyTokens,
		Now:         opts.Now,
		Log:         log,
		Background:  life,
		Tools:       box,
	}
	if oc != nil {
		chatService.Lender = oc.turns
	}
	tg, err := newTelegram(cfg, pool, chatService, opts, log)
	if err != nil {
		return err
	}
	srv := &http.Server{
		// Server spans join the caller's trace (the health probe's during a
		// signup); the provider is the global one main set up (off by default).
		Handler: telemetry.TraceHandler(httpapi.New(httpapi.Options{
			CustomerID:      cfg.CustomerID,
			InstanceID:      cfg.InstanceID,
			Version:         cfg.Version,
			Plan:            plan,
			DB:              pool,
			DBCheck:         dbCheck.Ping,
			Activity:        act.Token,
			InstanceToken:   cfg.InstanceToken,
			DashboardOrigin: cfg.DashboardOrigin,
			Limiter:         ratelimit.New(opts.RatePerSecond, opts.RateBurst, nil),
			Google:          googleAPI,
			Log:             log,
			Now:             opts.Now,
			Chat:            chatService,
			Telegram:        tg,
			Ready:           ready(oc),
			ControlUI:       controlUI(oc),
			Metrics:         metrics(oc),
		}), nil, "runtime"),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	providerName := ""
	if provider != nil {
		providerName = provider.Name()
	}
	log.Info("serving", "addr", ln.Addr().String(), "plan", plan.ID, "engine", plan.Engine, "version", cfg.Version,
		"provider", providerName, "model", model)

	g, gctx := errgroup.WithContext(ctx)
	// The Telegram channel stops with the instance: a suspended or canceled
	// customer's runtime is stopped by the compute service, and its bot
	// falls silent with it.
	g.Go(func() error { return tg.Run(gctx) })
	if oc != nil {
		// Stopped (and its sandbox with it) when the instance stops.
		g.Go(func() error { return oc.run(gctx) })
	}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		// ctx is done; shutdown gets its own bounded context.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		err := srv.Shutdown(sctx)
		endLife()
		if err != nil {
			return fmt.Errorf("shut down http server: %w", err)
		}
		log.Info("stopped")
		return nil
	})
	return g.Wait()
}

// checkConfig validates cfg and returns its plan with the engine it runs.
func checkConfig(cfg Config) (plans.Plan, error) {
	if err := cfg.Validate(); err != nil {
		return plans.Plan{}, err
	}
	plan, err := plans.Lookup(cfg.Plan)
	if err != nil {
		return plans.Plan{}, err
	}
	return planEngine(plan, cfg.Engine, cfg.Env.Engines)
}

// controlUI is the gateway's Control UI behind the front door; nil on the
// runtime engine.
func controlUI(e *openclawEngine) http.Handler {
	if e == nil {
		return nil
	}
	return e.gateway.ControlUI()
}

// ready is /health's readiness check: the gateway's on the openclaw engine,
// none on the runtime engine.
func ready(e *openclawEngine) func() error {
	if e == nil {
		return nil
	}
	return e.gateway.Ready
}

// metrics are the instance's Prometheus metrics: the model proxy's on the
// openclaw engine, none on the runtime engine.
func metrics(e *openclawEngine) http.Handler {
	if e == nil {
		return nil
	}
	return promhttp.HandlerFor(e.metrics, promhttp.HandlerOpts{Registry: e.metrics})
}
