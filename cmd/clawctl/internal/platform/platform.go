// Package platform runs the whole Clawdbot Cloud platform in one process:
// embedded NATS JetStream (unless NATS_URL is set), a private Postgres
// cluster (unless DATABASE_URL is set) and every service, each with its own
// bus connection, metrics registry and ops endpoints, talking only through
// NATS. It backs `clawctl dev`, `clawctl bench` and the end-to-end tests.
package platform

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats-server/v2/server"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/natsembed"
	"clawdbot.cloud/pkg/pgcluster"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/pkg/telemetry"
	"clawdbot.cloud/services/health"
	"clawdbot.cloud/services/ingress"
	"clawdbot.cloud/services/neon"
	"clawdbot.cloud/services/railway"
	"clawdbot.cloud/services/saga"
	"clawdbot.cloud/services/web"
	"clawdbot.cloud/services/workspace"
)

// DevWebhookSecret is the Stripe webhook secret dev mode runs with when
// STRIPE_WEBHOOK_SECRET is unset. It is printed at start and known to
// `clawctl signup`; never use it in production.
const DevWebhookSecret = "whsec_clawdbot_dev_only_not_a_secret"

// DevAdminToken is the ingress's admin token in dev mode when ADMIN_TOKEN is
// unset; `clawctl customer`, `sagas` and friends use it by default. Never
// use it in production.
const DevAdminToken = "dev-admin-token-not-a-secret-0123456789"

// DevInternalToken is the token the web app presents to the ingress's
// billing-portal endpoint in dev mode when INGRESS_INTERNAL_TOKEN is unset.
// Never use it in production.
const DevInternalToken = "dev-internal-token-not-a-secret-0123456789"

// Services lists the services in start order with their run functions.
var Services = []struct {
	Name string
	Run  service.Service
}{
	{"neon", neon.Run},
	{"workspace", workspace.Run},
	{"railway", railway.Run},
	{"health", health.Run},
	{"saga", saga.Run},
	{"ingress", ingress.Run},
	{"web", web.Run},
}

// Options configures a platform run.
type Options struct {
	// DataDir holds embedded NATS, the private Postgres cluster and the dev
	// encryption key. Created if missing.
	DataDir string
	// Env is the configuration source (the process environment in dev mode).
	Env func(string) (string, bool)
	Log *slog.Logger
	// OpsPortBase, when positive, gives service i the ops port base+i;
	// otherwise ops endpoints listen on free ports.
	OpsPortBase int
	// Tracer, when set, records every service's spans (tests). Otherwise
	// each service gets the tracing the OTEL_* variables describe, with its
	// own service.name (off when they are unset).
	Tracer trace.TracerProvider
}

// Platform is a running platform.
type Platform struct {
	// IngressURL is the public edge (webhooks, provisioning API).
	IngressURL string
	// WebURL is the customer web app.
	WebURL string
	// WebhookSecret is the Stripe webhook secret the ingress verifies with.
	WebhookSecret string
	// NATSURL is the bus the services share.
	NATSURL string
	// DatabaseURL is the control-plane database.
	DatabaseURL string
	// Ops maps service name to its ops address (/metrics, /healthz, /readyz).
	Ops map[string]string

	natsCreds busauth.Credentials
	log       *slog.Logger
	cleanup   []func()
	group     *errgroup.Group
	cancel    context.CancelFunc
}

// Settings are the platform's settings after defaults, shared by dev mode
// and the cluster topology (package cluster).
type Settings struct {
	WebhookSecret, IngressAddr, WebAddr, DataDir, DatabaseURL, NATSURL, NATSAddr, NATSMonitorAddr, Key, RuntimeBinary string
	// BusAuth is CLAW_BUS_AUTH (on by default): each service on the bus as
	// its own principal (pkg/busauth).
	BusAuth bool
}

// LoadSettings reads the settings from o.Env with dev defaults, refusing
// the dev secrets anywhere but on loopback addresses.
func LoadSettings(o Options) (Settings, error) {
	l := config.New(o.Env)
	s := Settings{
		WebhookSecret: l.String("STRIPE_WEBHOOK_SECRET", DevWebhookSecret),
		IngressAddr:   l.Addr("INGRESS_ADDR", "127.0.0.1:8080"),
		WebAddr:       l.Addr("WEB_ADDR", "127.0.0.1:3000"),
		DataDir:       l.String("CLAW_DATA_DIR", o.DataDir),
		DatabaseURL:   l.URL("DATABASE_URL", "", "postgres", "postgresql"),
		NATSURL:       l.URL("NATS_URL", "", "nats", "tls"),
		NATSAddr:      l.Addr("EMBEDDED_NATS_ADDR", "127.0.0.1:4222"),
		Key:           l.String("CLAW_ENCRYPTION_KEY", ""),
		RuntimeBinary: l.String("RUNTIME_BINARY", DefaultBinary("runtime")),
		BusAuth:       l.OneOf("CLAW_BUS_AUTH", "on", "on", "off") == "on",
	}
	// The embedded server's monitoring endpoint (/varz, /jsz: what
	// prometheus-nats-exporter reads), off unless set.
	if v, _ := l.Lookup("EMBEDDED_NATS_MONITOR_ADDR"); v != "" {
		s.NATSMonitorAddr = l.Addr("EMBEDDED_NATS_MONITOR_ADDR", "")
	}
	if s.DataDir == "" {
		l.Problem("CLAW_DATA_DIR is empty")
	}
	if _, err := os.Stat(s.RuntimeBinary); err != nil {
		l.Problem("RUNTIME_BINARY %s: %v (run `make build`, or set RUNTIME_BINARY to the runtime executable)", s.RuntimeBinary, err)
	}
	guardDevSecrets(l, o.Env, s)
	return s, l.Err()
}

// DefaultBinary is bin/<name> beside the clawctl executable (make build
// puts every service's binary there).
func DefaultBinary(name string) string {
	exe, err := os.Executable()
	if err != nil {
		return filepath.Join("bin", name)
	}
	return filepath.Join(filepath.Dir(exe), name)
}

// Start brings up the infrastructure and every service, and returns once the
// ingress accepts connections.
func Start(ctx context.Context, o Options) (_ *Platform, err error) {
	s, err := LoadSettings(o)
	if err != nil {
		return nil, err
	}
	p := &Platform{log: o.Log, WebhookSecret: s.WebhookSecret, Ops: map[string]string{}}
	// Whatever started before a failure stops again (every return below
	// that sets err).
	defer func() {
		if err != nil {
			p.runCleanup()
		}
	}()
	if err := PrepareDataDir(s.DataDir); err != nil {
		return nil, err
	}
	if p.natsCreds, err = BusCredentials(s); err != nil {
		return nil, err
	}
	if p.NATSURL, err = p.startNATS(s); err != nil {
		return nil, err
	}
	if err := p.setupStreams(ctx, config.New(o.Env)); err != nil {
		return nil, err
	}
	if p.DatabaseURL, err = p.startPostgres(ctx, s); err != nil {
		return nil, err
	}
	key, err := LoadKey(s)
	if err != nil {
		return nil, err
	}
	// Each service logs in as its own least-privilege role (pkg/dbroles).
	roles, err := BootstrapRoles(ctx, p.DatabaseURL, key)
	if err != nil {
		return nil, err
	}
	pools, err := p.servicePools(ctx, p.DatabaseURL, roles)
	if err != nil {
		return nil, err
	}
	customerAdminURL, err := roles.URL(p.DatabaseURL, roles.CustomerAdmin())
	if err != nil {
		return nil, err
	}

	// Every service reads the same configuration, with dev defaults on top
	// of the process environment.
	webURL := "http://" + s.WebAddr
	overrides := ServiceEnv(s, customerAdminURL)
	lookup := func(k string) (string, bool) {
		if v, ok := o.Env(k); ok && v != "" {
			return v, true
		}
		v, ok := overrides[k]
		return v, ok
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	g, gctx := errgroup.WithContext(runCtx)
	p.group = g
	for i, svc := range Services {
		tracer, err := p.tracer(ctx, o, lookup, svc.Name)
		if err != nil {
			cancel()
			return nil, err
		}
		env, err := service.NewEnv(ctx, service.EnvOptions{
			Name: svc.Name, Log: o.Log.With("service", svc.Name), NATSURL: p.NATSURL, DB: pools[svc.Name], Key: key,
			NATSUser: userIf(p.natsCreds, svc.Name), NATSPassword: p.natsCreds[svc.Name],
			DataDir: filepath.Join(s.DataDir, svc.Name), Config: config.New(lookup), Tracer: tracer,
		})
		if err != nil {
			cancel()
			return nil, err
		}
		opsAddr := "127.0.0.1:0"
		if o.OpsPortBase > 0 {
			opsAddr = "127.0.0.1:" + strconv.Itoa(o.OpsPortBase+i)
		}
		ops, err := service.ListenOps(opsAddr, env)
		if err != nil {
			cancel()
			env.Bus.Close()
			return nil, err
		}
		p.Ops[svc.Name] = ops.Addr()
		run := svc.Run
		g.Go(func() error {
			defer env.Bus.Close()
			return service.RunWithOps(gctx, env, run, ops)
		})
	}
	p.IngressURL, p.WebURL = "http://"+s.IngressAddr, webURL
	for _, addr := range []string{s.IngressAddr, s.WebAddr} {
		if err := waitTCP(ctx, addr, 15*time.Second); err != nil {
			cancel()
			_ = g.Wait()
			return nil, err
		}
	}
	return p, nil
}

// DevDatabasePoolSize is the warm pool of customer databases on embedded
// defaults: enough for a burst of signups, small enough to fill in a few
// seconds after start (each entry is one CREATE DATABASE, ~7.5 MB).
const DevDatabasePoolSize = "16"

// ServiceEnv is the configuration every service runs with on top of the
// process environment (whose non-empty values win): the dev tokens, the
// listen addresses, the customer-database admin's URL, the runtime binary
// and the web app's dev settings.
func ServiceEnv(s Settings, customerAdminURL string) map[string]string {
	webURL := "http://" + s.WebAddr
	return map[string]string{
		"STRIPE_WEBHOOK_SECRET":  s.WebhookSecret,
		"ADMIN_TOKEN":            DevAdminToken,
		"INGRESS_ADDR":           s.IngressAddr,
		"INGRESS_INTERNAL_TOKEN": DevInternalToken,
		// One loopback address plays every customer in dev (clawctl
		// signup, bench, the e2e tests poll the ingress directly): the
		// per-address limits are off unless set in the environment.
		"INGRESS_RATELIMIT_CHECKOUT":     "off",
		"INGRESS_RATELIMIT_PROVISIONING": "off",
		"INGRESS_RATELIMIT_REVEAL":       "off",
		"DATABASE_ADMIN_URL":             customerAdminURL,
		// Databases made ahead of signups (services/neon: the warm pool).
		"DATABASE_POOL_SIZE": DevDatabasePoolSize,
		"RUNTIME_BINARY":     s.RuntimeBinary,
		// The web app: dev checkout and mailbox, the ingress it calls, and
		// where Stripe Checkout returns when STRIPE_SECRET_KEY is set.
		"WEB_ADDR":             s.WebAddr,
		"WEB_DEV_MODE":         "true",
		"INGRESS_URL":          "http://" + s.IngressAddr,
		"CHECKOUT_SUCCESS_URL": webURL + "/welcome?session_id={CHECKOUT_SESSION_ID}",
		"CHECKOUT_CANCEL_URL":  webURL + "/",
	}
}

// tracer is the tracer provider of service name: o.Tracer, or its own from
// the OTEL_* variables, flushed when the platform stops.
func (p *Platform) tracer(ctx context.Context, o Options, lookup func(string) (string, bool), name string) (trace.TracerProvider, error) {
	if o.Tracer != nil {
		return o.Tracer, nil
	}
	cfg := config.New(lookup)
	tr, err := telemetry.TracingFromConfig(ctx, cfg, name)
	if err == nil {
		err = cfg.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: tracing: %w", name, err)
	}
	p.cleanup = append(p.cleanup, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = tr.Shutdown(sctx)
	})
	return tr.Provider, nil
}

// Wait blocks until a service fails or Stop is called, returning the first error.
func (p *Platform) Wait() error { return p.group.Wait() }

// Stop shuts every service down (the compute service stops its customer
// processes), then the bus and the database.
func (p *Platform) Stop() error {
	p.cancel()
	err := p.group.Wait()
	p.runCleanup()
	return err
}

func (p *Platform) runCleanup() {
	for i := len(p.cleanup) - 1; i >= 0; i-- {
		p.cleanup[i]()
	}
	p.cleanup = nil
}

func (p *Platform) startNATS(s Settings) (string, error) {
	if s.NATSURL != "" {
		return s.NATSURL, nil
	}
	host, portText, _ := net.SplitHostPort(s.NATSAddr)
	port, _ := strconv.Atoi(portText)
	users, err := natsUsers(p.natsCreds)
	if err != nil {
		return "", err
	}
	o := natsembed.Options{Host: host, Port: port, StoreDir: filepath.Join(s.DataDir, "nats"), Users: users}
	if s.NATSMonitorAddr != "" {
		mhost, mport, _ := net.SplitHostPort(s.NATSMonitorAddr)
		o.MonitorHost = mhost
		o.MonitorPort, _ = strconv.Atoi(mport)
	}
	srv, err := natsembed.Start(o)
	if err != nil {
		return "", fmt.Errorf("embedded NATS on %s: %w (set EMBEDDED_NATS_ADDR or NATS_URL)", s.NATSAddr, err)
	}
	if s.NATSMonitorAddr != "" {
		p.log.Info("embedded NATS monitoring", "url", "http://"+s.NATSMonitorAddr+"/jsz")
	}
	p.cleanup = append(p.cleanup, func() { shutdownNATS(srv) })
	return srv.ClientURL(), nil
}

func shutdownNATS(srv *server.Server) {
	srv.Shutdown()
	srv.WaitForShutdown()
}

// startPostgres returns the control-plane database URL: DATABASE_URL, or
// a private cluster's (StartPostgres), stopped with the platform.
func (p *Platform) startPostgres(ctx context.Context, s Settings) (string, error) {
	if s.DatabaseURL != "" {
		return s.DatabaseURL, nil
	}
	u, stop, err := StartPostgres(ctx, s.DataDir, p.log)
	if err != nil {
		return "", err
	}
	p.cleanup = append(p.cleanup, stop)
	return u, nil
}

// StartPostgres starts the private Postgres cluster in dataDir/postgres
// (pkg/pgcluster: as an unprivileged user when run as root) and returns the
// URL of its "clawdbot" database, created on the first start and closed to
// customer roles, and the function that stops the cluster.
func StartPostgres(ctx context.Context, dataDir string, log *slog.Logger) (dbURL string, stop func(), err error) {
	c, err := pgcluster.Start(ctx, filepath.Join(dataDir, "postgres"), log)
	if err != nil {
		return "", nil, err
	}
	stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Stop(sctx); err != nil {
			log.Warn("stop postgres", "err", err)
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	admin := c.AdminURL()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'clawdbot')`).Scan(&exists); err != nil {
		return "", nil, err
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE DATABASE clawdbot`); err != nil {
			return "", nil, err
		}
	}
	// Customer roles live on this server too: by default every role may
	// connect to every database, so close the platform's own databases.
	if _, err := conn.Exec(ctx, `REVOKE CONNECT, TEMPORARY ON DATABASE postgres FROM PUBLIC;
		REVOKE CONNECT, TEMPORARY ON DATABASE clawdbot FROM PUBLIC`); err != nil {
		return "", nil, fmt.Errorf("close platform databases to customer roles: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	u.Path = "/clawdbot"
	return u.String(), stop, nil
}

// WaitTCP waits until something listens on addr, up to timeout.
func WaitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	return waitTCP(ctx, addr, timeout)
}

func waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listened on %s within %v: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}
