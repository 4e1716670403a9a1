// Package railway is the compute service. It answers cmd.compute.provision
// with a running customer runtime (compute.provisioned, or compute.failed
// when it never can) and cmd.compute.delete by removing it
// (compute.deleted); over a customer's lifecycle it resizes the runtime to a
// new plan (cmd.compute.resize), stops it while telling callers why
// (cmd.compute.stop) and starts it again at the same address
// (cmd.compute.start). Its backend is a Driver, chosen by COMPUTE_DRIVER: the
// embedded "process" driver runs each runtime as a supervised child
// process; the "railway" driver runs it as a Railway service deployed from
// the runtime's container image.
package railway

import (
	"context"
	"errors"
	"sync"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	railwaydriver "clawdbot.cloud/services/railway/internal/adapters/railway"
	"clawdbot.cloud/services/railway/internal/admin"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/store"
)

// Run runs the compute service until ctx ends. Shutdown is ordered: the
// consumer stops taking commands and lets in-flight ones finish, then (with
// the process driver) every runtime is stopped. Runtimes stay wanted, so
// the next Run starts them again.
func Run(ctx context.Context, env *service.Env) error {
	return run(ctx, env, nil)
}

// run is Run with an optional wrapper around the driver, for tests that
// fail or interrupt operations.
func run(ctx context.Context, env *service.Env, wrap func(app.Driver) app.Driver) error {
	cfg := LoadConfig(env.Config)
	if err := env.Config.Err(); err != nil {
		return err
	}
	// The store holds the deleted-saga journal every driver needs, and the
	// process driver's instances.
	st, err := store.Open(ctx, env.DB)
	if err != nil {
		return err
	}
	if cfg.Driver == "railway" {
		drv, err := newRailwayDriver(cfg, env)
		if err != nil {
			return err
		}
		return serve(ctx, env, st, drv, wrap, cfg.Concurrency)
	}

	// One process driver per control plane: a second service waits here
	// instead of starting duplicate runtimes.
	// The owner stops when its lock's session ends (a Postgres restart):
	// the standby may take the lock then, and two owners would run the
	// same runtimes. Exiting hands over; the supervisor (clawctl cluster,
	// systemd, the orchestrator) starts this process again as a standby.
	parent := ctx
	ctx, release, err := st.LockWatched(parent, env.Log)
	if err != nil {
		if parent.Err() != nil {
			return nil // stopped while waiting
		}
		return err
	}
	defer release()

	drv, err := process.New(process.Options{
		Binary:       cfg.RuntimeBinary,
		Version:      cfg.RuntimeVersion,
		Store:        st,
		Secrets:      env.Secrets,
		Log:          env.Log,
		Metrics:      env.Metrics,
		Env:          cfg.RuntimeEnv,
		WorkDir:      env.DataDir,
		StartTimeout: cfg.StartTimeout,
		StopGrace:    cfg.StopGrace,
		Now:          env.Now,
		Provider:     cfg.RuntimeProvider,
		Model:        cfg.RuntimeModel,
		Isolation:    cfg.Isolation,
		Engines:      cfg.Engines,
		EngineStart:  cfg.EngineStartTimeout,

		OpenClawInstalls: cfg.OpenClawInstalls,
		OpenClawVersion:  cfg.OpenClawVersion,
		RolloutTimeout:   cfg.RolloutTimeout,
	})
	if err != nil {
		return err
	}
	defer drv.Close()
	if err := drv.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return lockLost(ctx) // stopped while starting
		}
		return err
	}
	// The operator's OpenClaw rollouts: answered by the owner only, beside
	// the commands, until ctx ends.
	adminCtx, stopAdmin := context.WithCancel(ctx)
	var adminErr error
	var wg sync.WaitGroup
	wg.Go(func() { adminErr = admin.Run(adminCtx, env.Bus.Conn(), drv, env.Log) })
	err = serve(ctx, env, st, drv, wrap, cfg.Concurrency)
	stopAdmin()
	wg.Wait()
	if err != nil {
		return err
	}
	if adminErr != nil {
		return adminErr
	}
	return lockLost(ctx)
}

// lockLost is the error of an owner stopped because its lock was lost (so
// that it exits failed, and is started again), nil for any other stop.
func lockLost(ctx context.Context) error {
	if cause := context.Cause(ctx); errors.Is(cause, store.ErrLockLost) {
		return cause
	}
	return nil
}

// newRailwayDriver builds the railway driver. It keeps no state of its own
// (Railway is the record, found by service name), so replicas need no lock.
func newRailwayDriver(cfg Config, env *service.Env) (*railwaydriver.Driver, error) {
	r := cfg.Railway
	return railwaydriver.New(railwaydriver.Options{
		APIURL:        r.APIURL,
		Token:         r.Token,
		TokenKind:     railwaydriver.TokenKind(r.TokenKind),
		ProjectID:     r.ProjectID,
		EnvironmentID: r.EnvironmentID,
		Image:         r.Image,
		Engines:       cfg.Engines,
		OpenClawImage: r.OpenClawImage,
		Region:        r.Region,
		Version:       cfg.RuntimeVersion,
		Vars:          r.Vars,
		Secrets:       env.Secrets,
		Provider:      cfg.RuntimeProvider,
		Model:         cfg.RuntimeModel,
		Log:           env.Log,
		Metrics:       env.Metrics,
		HTTPClient:    env.TraceClient(nil),
		RatePerSecond: r.RatePerSecond,
		RatePerHour:   r.RatePerHour,
		PollInterval:  r.PollInterval,
		DeployTimeout: r.DeployTimeout,
		DomainScheme:  r.DomainScheme,
	})
}

// serve answers the compute commands with d until ctx ends.
func serve(ctx context.Context, env *service.Env, journal app.Journal, d app.Driver, wrap func(app.Driver) app.Driver, workers int) error {
	if wrap != nil {
		d = wrap(d)
	}
	a, err := app.New(app.Options{Bus: env.Bus, Log: env.Log, Metrics: env.Metrics, Journal: journal,
		Consumer: bus.ConsumerConfig{Workers: workers}}, d)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
