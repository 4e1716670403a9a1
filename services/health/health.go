// Package health is the health service. It answers cmd.instance.check: it
// polls a freshly provisioned instance's /health until it answers 200 and
// reports instance.ready, or instance.failed when the check's deadline
// passes, so the signup saga completes or compensates.
//
// Settings (environment):
//
//	HEALTH_CHECK_TIMEOUT   how long a new instance has to become healthy (default 45s)
//	HEALTH_PROBE_TIMEOUT   how long one probe may take (default 2s)
//	HEALTH_CONCURRENCY     how many checks run at once (default 64)
//
// Continuous monitoring of live instances (latency and uptime, restart
// requests after repeated failures, Slack and email alerts, quota notices)
// is not built yet. It will be a second component that Run starts beside the
// command consumer, sharing the prober and the metrics registry.
package health

import (
	"context"
	"time"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/health/internal/app"
	"clawdbot.cloud/services/health/internal/probe"
)

// Run runs the health service until ctx ends. It is a service.Service.
func Run(ctx context.Context, env *service.Env) error {
	checkTimeout := env.Config.Duration("HEALTH_CHECK_TIMEOUT", 45*time.Second)
	probeTimeout := env.Config.Duration("HEALTH_PROBE_TIMEOUT", 2*time.Second)
	workers := env.Config.Int("HEALTH_CONCURRENCY", 64)
	if checkTimeout <= 0 {
		env.Config.Problem("HEALTH_CHECK_TIMEOUT must be positive")
	}
	if probeTimeout <= 0 {
		env.Config.Problem("HEALTH_PROBE_TIMEOUT must be positive")
	}
	if workers < 1 {
		env.Config.Problem("HEALTH_CONCURRENCY must be at least 1")
	}
	if err := env.Config.Err(); err != nil {
		return err
	}

	prober := probe.New(probeTimeout)
	defer prober.Close()
	a, err := app.New(app.Options{
		Log:          env.Log,
		Bus:          env.Bus,
		Prober:       prober,
		CheckTimeout: checkTimeout,
		Metrics:      env.Metrics,
	})
	if err != nil {
		return err
	}
	r := bus.NewRouter()
	a.Register(r)
	return env.Bus.Run(ctx, a.ConsumerConfig(workers), r)
}
