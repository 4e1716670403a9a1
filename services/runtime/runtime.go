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
// when up to date), then serves GET /health (no auth) and GET /status
// (Bearer API key) until its context is canceled.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/sync/errgroup"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime/internal/config"
	"clawdbot.cloud/services/runtime/internal/httpapi"
)

// Config is the runtime's configuration, one JSON document:
// {"customer_id","plan","listen_addr","database_url","instance_id","version"}.
// See the fields for their meaning and Config.Validate for the rules.
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
)

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
	defer ln.Close()
	if err := cfg.Validate(); err != nil {
		return err
	}
	plan, err := plans.Lookup(cfg.Plan)
	if err != nil {
		return err
	}
	log = log.With("service", "runtime", "customer_id", cfg.CustomerID, "instance_id", cfg.InstanceID)

	poolCfg, err := pgxpool.ParseConfig(cfg.DatabaseURL)
	if err != nil {
		return errors.New("parse database_url: invalid connection string")
	}
	poolCfg.MaxConns = maxDBConns
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("open customer database: %w", err)
	}
	defer pool.Close()
	if err := customerdb.Migrate(ctx, pool); err != nil {
		return err
	}

	srv := &http.Server{
		Handler: httpapi.New(httpapi.Options{
			CustomerID: cfg.CustomerID,
			Version:    cfg.Version,
			Plan:       plan,
			DB:         pool,
			Log:        log,
		}),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("serving", "addr", ln.Addr().String(), "plan", plan.ID, "version", cfg.Version)

	g, gctx := errgroup.WithContext(ctx)
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
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("shut down http server: %w", err)
		}
		log.Info("stopped")
		return nil
	})
	return g.Wait()
}
