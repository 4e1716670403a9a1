package service

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/telemetry"
)

// Main runs one service as its own process, configured from the
// environment: NATS_URL, NATS_USER, NATS_PASSWORD or NATS_PASSWORD_FILE,
// NATS_CA, DATABASE_URL, CLAW_ENCRYPTION_KEY, OPS_ADDR, LOG_FORMAT,
// LOG_LEVEL, NATS_REPLICAS, DATA_DIR, and tracing from the standard OTEL_*
// variables (TracingFromConfig; off when unset). It returns the process
// exit code.
func Main(name string, svc Service) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := NewLogger(os.Getenv("LOG_FORMAT"), name)
	if err := runMain(ctx, name, svc, log); err != nil {
		log.Error("exit", "err", err)
		return 1
	}
	return 0
}

// NewLogger returns a slog logger: JSON unless format is "text", with a
// service attribute unless service is empty, at the level LOG_LEVEL names
// (debug, info, warn, error; info when unset or unknown, which it says).
func NewLogger(format, service string) *slog.Logger {
	level, levelErr := ParseLevel(os.Getenv("LOG_LEVEL"))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(os.Stderr, opts)
	if format == "text" {
		h = slog.NewTextHandler(os.Stderr, opts)
	}
	log := slog.New(h)
	if service != "" {
		log = log.With("service", service)
	}
	if levelErr != nil {
		log.Warn("LOG_LEVEL ignored; logging at info", "err", levelErr)
	}
	return log
}

// ParseLevel reads a log level: debug, info, warn or error (any case, as
// slog.Level spells them, offsets such as warn+2 included); "" is info.
func ParseLevel(s string) (slog.Level, error) {
	if s == "" {
		return slog.LevelInfo, nil
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return slog.LevelInfo, fmt.Errorf("LOG_LEVEL=%q: %w", s, err)
	}
	return l, nil
}

func runMain(ctx context.Context, name string, svc Service, log *slog.Logger) error {
	cfg := config.FromEnv()
	natsURL := cfg.URL("NATS_URL", "nats://127.0.0.1:4222", "nats", "tls")
	dbURL := cfg.Required("DATABASE_URL", "the control-plane Postgres (postgres://user:pass@host/db)")
	keyText := cfg.Required("CLAW_ENCRYPTION_KEY", "base64 of 32 random bytes (openssl rand -base64 32) encrypting stored secrets")
	opsAddr := cfg.Addr("OPS_ADDR", "0.0.0.0:9090")
	replicas := cfg.Int("NATS_REPLICAS", 1)
	dataDir := cfg.String("DATA_DIR", os.TempDir())
	natsUser, natsPassword, natsCA := NATSAuth(cfg)
	var key []byte
	if keyText != "" {
		var err error
		if key, err = secrets.ParseKey(keyText); err != nil {
			cfg.Problem("CLAW_ENCRYPTION_KEY: %v", err)
		}
	}
	tracing, err := telemetry.TracingFromConfig(ctx, cfg, name)
	if err != nil {
		return err
	}
	if err := cfg.Err(); err != nil {
		return err
	}
	// Libraries that trace with the global provider record with ours too.
	otel.SetTracerProvider(tracing.Provider)
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := tracing.Shutdown(sctx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	}()
	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("database: %w", err)
	}
	defer pool.Close()
	if err := waitDB(ctx, pool, dbWaitLimit, log); err != nil {
		return err
	}
	env, err := NewEnv(ctx, EnvOptions{Name: name, Log: log, NATSURL: natsURL, NATSUser: natsUser, NATSPassword: natsPassword, NATSCA: natsCA,
		DB: pool, Key: key, Replicas: replicas, DataDir: dataDir, Config: cfg, Tracer: tracing.Provider})
	if err != nil {
		return err
	}
	defer env.Bus.Close()
	ops, err := ListenOps(opsAddr, env)
	if err != nil {
		return err
	}
	log.Info("started", "ops", ops.Addr())
	return RunWithOps(ctx, env, svc, ops)
}

// NATSAuth reads the service's bus credentials: NATS_USER (its principal in
// pkg/busauth) with NATS_PASSWORD or NATS_PASSWORD_FILE (a file holding
// it, such as a Docker secret), and NATS_CA, the PEM file of the CA that
// signed the server's certificate. Problems are recorded on cfg.
func NATSAuth(cfg *config.Loader) (user, password, ca string) {
	user = cfg.String("NATS_USER", "")
	password = cfg.String("NATS_PASSWORD", "")
	file := cfg.String("NATS_PASSWORD_FILE", "")
	ca = cfg.String("NATS_CA", "")
	switch {
	case password != "" && file != "":
		cfg.Problem("NATS_PASSWORD and NATS_PASSWORD_FILE: set one")
	case file != "":
		pw, err := busauth.ReadPassword(file)
		if err != nil {
			cfg.Problem("NATS_PASSWORD_FILE: %v", err)
		}
		password = pw
	}
	if user == "" && password != "" {
		cfg.Problem("NATS_PASSWORD without NATS_USER")
	}
	if user != "" && password == "" {
		cfg.Problem("NATS_USER %s needs NATS_PASSWORD or NATS_PASSWORD_FILE", user)
	}
	if ca != "" {
		if _, err := os.Stat(ca); err != nil {
			cfg.Problem("NATS_CA: %v", err)
		}
	}
	return user, password, ca
}

// EnvOptions describes how to build an Env.
type EnvOptions struct {
	Name    string
	Log     *slog.Logger
	NATSURL string
	// NATSUser and NATSPassword authenticate the service on the bus as its
	// principal (pkg/busauth); empty: no authentication. NATSCA is the PEM
	// file of the CA of the server's TLS certificate.
	NATSUser, NATSPassword, NATSCA string
	DB                             *pgxpool.Pool
	Key                            []byte
	Replicas                       int
	DataDir                        string
	Config                         *config.Loader
	Now                            func() time.Time
	// Tracer records the service's spans; nil: the global provider.
	Tracer trace.TracerProvider
}

// StreamWait is how long a service whose principal may not create the
// streams waits for them at start.
const StreamWait = time.Minute

// NewEnv connects a service to the bus (creating the streams, or waiting
// for them when its principal may not create them), opens the secret store
// and gives it a metrics registry.
func NewEnv(ctx context.Context, o EnvOptions) (*Env, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if o.Config == nil {
		o.Config = config.FromEnv()
	}
	streams := StreamOptions(o.Config, o.Replicas)
	if err := o.Config.Err(); err != nil {
		return nil, err
	}
	if o.Tracer == nil {
		o.Tracer = otel.GetTracerProvider()
	}
	b, err := bus.Connect(ctx, o.NATSURL, o.Name, o.Log, reg,
		bus.WithCredentials(o.NATSUser, o.NATSPassword), bus.WithTLSCA(o.NATSCA), bus.WithTracerProvider(o.Tracer))
	if err != nil {
		return nil, err
	}
	if p, ok := busauth.Lookup(o.NATSUser); ok && !p.ManageStreams {
		// The saga (or the operator, first in clawctl dev) creates them;
		// a service still waiting after StreamWait exits, to be restarted.
		actx, cancel := context.WithTimeout(ctx, StreamWait)
		err = b.AwaitStreams(actx)
		cancel()
	} else {
		err = b.Setup(ctx, streams)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	sec, err := secrets.Open(ctx, o.DB, o.Key)
	if err != nil {
		b.Close()
		return nil, err
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Env{Name: o.Name, Log: o.Log, Bus: b, DB: o.DB, Secrets: sec, Metrics: reg, Config: o.Config, Now: o.Now,
		DataDir: o.DataDir, Tracer: o.Tracer}, nil
}

// RunWithOps runs svc and its ops server until ctx ends or one fails.
func RunWithOps(ctx context.Context, env *Env, svc Service, ops *OpsServer) error {
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return ops.Serve(gctx) })
	g.Go(func() error {
		if err := svc(gctx, env); err != nil {
			return fmt.Errorf("%s: %w", env.Name, err)
		}
		return nil
	})
	return g.Wait()
}

// StreamOptions reads the streams' retention (the replay horizon) from
// NATS_EVENTS_MAX_AGE, NATS_EVENTS_MAX_MB, NATS_DEADLETTERS_MAX_AGE and
// NATS_DEADLETTERS_MAX_MB; unset means pkg/bus's defaults (90 days, 8 GiB
// of events; 90 days, 1 GiB of dead letters). Every service applies the
// same values: set them alike everywhere, or the services rewrite each
// other's stream settings as they start.
func StreamOptions(cfg *config.Loader, replicas int) bus.StreamOptions {
	o := bus.StreamOptions{
		Replicas:       replicas,
		EventsMaxAge:   cfg.Duration("NATS_EVENTS_MAX_AGE", bus.DefaultEventsMaxAge),
		EventsMaxBytes: int64(cfg.Int("NATS_EVENTS_MAX_MB", bus.DefaultEventsMaxBytes>>20)) << 20,
		DeadMaxAge:     cfg.Duration("NATS_DEADLETTERS_MAX_AGE", bus.DefaultDeadMaxAge),
		DeadMaxBytes:   int64(cfg.Int("NATS_DEADLETTERS_MAX_MB", bus.DefaultDeadMaxBytes>>20)) << 20,
	}
	for name, v := range map[string]int64{"NATS_EVENTS_MAX_AGE": int64(o.EventsMaxAge), "NATS_EVENTS_MAX_MB": o.EventsMaxBytes,
		"NATS_DEADLETTERS_MAX_AGE": int64(o.DeadMaxAge), "NATS_DEADLETTERS_MAX_MB": o.DeadMaxBytes} {
		if v <= 0 {
			cfg.Problem("%s must be positive", name)
		}
	}
	if o.EventsMaxAge > 0 && o.EventsMaxAge < time.Hour || o.DeadMaxAge > 0 && o.DeadMaxAge < time.Hour {
		cfg.Problem("NATS_EVENTS_MAX_AGE and NATS_DEADLETTERS_MAX_AGE must be at least 1h (the stream's duplicate window is 2m, sagas run for minutes)")
	}
	return o
}
