// Package service is what every platform service shares at run time: the
// environment it is handed (bus, database, secrets, metrics, logger), the
// operations HTTP server (/metrics, /healthz, /readyz) and the standalone
// main that wires them from the process environment.
package service

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/telemetry"
)

// Env is everything a service needs from its host. The standalone main
// (Main) and the one-process dev mode (clawctl dev) both build one.
type Env struct {
	// Name is the service name, used in logs, metrics and consumer names.
	Name string
	Log  *slog.Logger
	Bus  *bus.Bus
	// DB is the control-plane database; each service keeps its tables in a
	// schema named after it.
	DB      *pgxpool.Pool
	Secrets *secrets.Store
	// Metrics is the service's own registry, served on its /metrics.
	Metrics *prometheus.Registry
	// Config reads the service's own settings; the service validates them
	// and returns Config.Err() before starting anything.
	Config *config.Loader
	// Now is the clock; tests replace it.
	Now func() time.Time
	// DataDir is a directory the service may keep local state in.
	DataDir string
	// Tracer records the service's spans: its bus's, and its HTTP servers'
	// and clients' through TraceHandler and TraceClient. The no-op provider
	// when tracing is off.
	Tracer trace.TracerProvider
	// readiness checks added by the service.
	checks []func(context.Context) error
}

// TraceHandler wraps one of the service's HTTP servers' handler in server
// spans (see the package function TraceHandler).
func (e *Env) TraceHandler(h http.Handler, operation string) http.Handler {
	return telemetry.TraceHandler(h, e.tracer(), operation)
}

// TraceClient returns a copy of c (nil: a new client) whose requests run in
// client spans and carry the trace on (see TraceTransport).
func (e *Env) TraceClient(c *http.Client) *http.Client { return telemetry.TraceClient(c, e.tracer()) }

func (e *Env) tracer() trace.TracerProvider { return e.Tracer }

// AddReadiness registers a check /readyz runs; a failing check answers 503.
func (e *Env) AddReadiness(check func(context.Context) error) {
	e.checks = append(e.checks, check)
}

// Ready runs the bus, database and service readiness checks.
func (e *Env) Ready(ctx context.Context) error {
	if e.Bus != nil {
		if err := e.Bus.Ready(); err != nil {
			return err
		}
	}
	if e.DB != nil {
		if err := e.DB.Ping(ctx); err != nil {
			return err
		}
	}
	for _, c := range e.checks {
		if err := c(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Service is a platform service: Run blocks until ctx ends, then shuts down
// in order and returns.
type Service func(ctx context.Context, env *Env) error
