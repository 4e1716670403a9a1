// Command runtime is one customer's Clawdbot instance. The compute service
// starts it with its JSON configuration on stdin (see package
// clawdbot.cloud/services/runtime/internal/config); it stops gracefully on
// SIGTERM or SIGINT and exits 0. Logs are JSON on stderr; LOG_FORMAT=text
// switches them to text.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"

	envconfig "clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/telemetry"
	"clawdbot.cloud/services/runtime"
	"clawdbot.cloud/services/runtime/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := newLogger(os.Getenv("LOG_FORMAT"))
	if err := run(ctx, log); err != nil {
		log.Error("exit", "service", "runtime", "err", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger) error {
	cfg, err := config.Load(os.Stdin, os.Getenv)
	if err != nil {
		return err
	}
	// Traces from the standard OTEL_* variables the compute service
	// forwards; off when they are unset.
	env := envconfig.FromEnv()
	tracing, err := telemetry.TracingFromConfig(ctx, env, "runtime")
	if err != nil {
		return err
	}
	if err := env.Err(); err != nil {
		return err
	}
	otel.SetTracerProvider(tracing.Provider)
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = tracing.Shutdown(sctx)
	}()
	return runtime.Run(ctx, cfg, log)
}

func newLogger(format string) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, nil))
}
