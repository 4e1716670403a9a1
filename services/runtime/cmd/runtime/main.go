// Command runtime is one customer's Clawdbot instance. The compute service
// starts it with its JSON configuration on stdin (see package
// clawdbot.cloud/services/runtime/internal/config), or ahead of its
// customer with a warm document first ({"warm": true, "database_url",
// "instance_id"}: it connects to that database and checks the schema, then
// waits for the configuration); it stops gracefully on SIGTERM or SIGINT
// and exits 0. Logs are JSON on stderr; LOG_FORMAT=text
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
	staged, err := config.LoadStaged(os.Stdin, os.Getenv)
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
	if staged.Warm == nil {
		return runtime.Run(ctx, staged.Config, log)
	}
	return runWarm(ctx, staged, log)
}

// runWarm starts the runtime of a warm pool entry: connected to its
// database, it waits for its customer's configuration, the second document
// on stdin, then serves it. Stopped (or its stdin closed) before that, it
// exits without serving.
func runWarm(ctx context.Context, staged config.Staged, log *slog.Logger) error {
	w, err := runtime.WarmUp(ctx, *staged.Warm, log, runtime.Options{})
	if err != nil {
		return err
	}
	type next struct {
		cfg runtime.Config
		err error
	}
	got := make(chan next, 1)
	go func() {
		cfg, err := staged.Next()
		got <- next{cfg, err}
	}()
	select {
	case <-ctx.Done():
		w.Close()
		log.Info("stopped before a customer claimed it", "service", "runtime", "instance_id", staged.Warm.InstanceID)
		return nil
	case n := <-got:
		if n.err != nil {
			w.Close()
			return n.err
		}
		return runtime.RunWarmed(ctx, w, n.cfg, log)
	}
}

func newLogger(format string) *slog.Logger {
	if format == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, nil))
}
