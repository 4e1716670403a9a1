package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/config"
)

// Warm is the first document of a runtime started ahead of its customer:
// {"warm": true, "database_url", "instance_id"} (config.Warm).
type Warm = config.Warm

// Warmed is a runtime started ahead of its customer, for a warm pool: its
// connection to what will be the customer's database is open and the
// schema checked, which is most of a runtime's start (a new backend and its
// first query on a fresh database: BenchmarkBinaryStart in cmd/runtime).
// It serves nothing until ServeWarmed gives it its customer. Its
// connection stays open while it waits.
type Warmed struct {
	db  *customerDB
	log *slog.Logger
}

// WarmUp opens w's database, connects and checks the schema, and returns
// the runtime waiting for its customer. Close it if it never gets one.
func WarmUp(ctx context.Context, w Warm, log *slog.Logger, opts Options) (*Warmed, error) {
	if err := w.Validate(); err != nil {
		return nil, err
	}
	db, err := openDB(ctx, w.DatabaseURL, opts, true)
	if err != nil {
		return nil, err
	}
	if err := customerdb.Migrate(ctx, db.pool); err != nil {
		db.close()
		return nil, err
	}
	log = log.With("service", "runtime", "instance_id", w.InstanceID)
	log.Info("warm: connected, waiting for the customer")
	return &Warmed{db: db, log: log}, nil
}

// Close closes the connection of a warm runtime that got no customer;
// ServeWarmed closes it otherwise.
func (w *Warmed) Close() { w.db.close() }

// ServeWarmed serves cfg's instance from w, like ServeWith, on w's open
// connection: cfg's database URL must name w's server and database (a
// claim may give it another user and password, which connections opened
// from now on use). A cfg naming another database is served on a
// connection of its own, as a cold start would (logged). It closes w and
// ln when it returns.
func ServeWarmed(ctx context.Context, w *Warmed, cfg Config, ln net.Listener, log *slog.Logger, opts Options) error {
	defer ln.Close()
	defer w.db.close()
	plan, err := checkConfig(cfg)
	if err != nil {
		return err
	}
	same, err := w.db.adopt(cfg.DatabaseURL)
	if err != nil {
		return err
	}
	if !same {
		w.log.Warn("warm: the customer's database is not the one warmed up; connecting to it")
		w.db.close()
		db, err := openDB(ctx, cfg.DatabaseURL, opts, false)
		if err != nil {
			return err
		}
		defer db.close()
		return serve(ctx, cfg, plan, db, ln, log, opts)
	}
	return serve(ctx, cfg, plan, w.db, ln, log, opts)
}

// RunWarmed is ServeWarmed on cfg.ListenAddr.
func RunWarmed(ctx context.Context, w *Warmed, cfg Config, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		w.Close()
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.ListenAddr)
	if err != nil {
		w.Close()
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	return ServeWarmed(ctx, w, cfg, ln, log, Options{})
}
