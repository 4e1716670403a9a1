// Package railway is the compute service. It answers cmd.compute.provision
// with a running customer runtime (compute.provisioned, or compute.failed
// when it never can) and cmd.compute.delete by removing it
// (compute.deleted). Its backend is a Driver: the embedded "process" driver
// runs each runtime as a supervised child process; a Railway driver is to
// come.
package railway

import (
	"context"

	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/railway/internal/adapters/process"
	"clawdbot.cloud/services/railway/internal/app"
	"clawdbot.cloud/services/railway/internal/store"
)

// Run runs the compute service until ctx ends. Shutdown is ordered: the
// consumer stops taking commands and lets in-flight ones finish, then every
// runtime is stopped. Runtimes stay wanted, so the next Run starts them again.
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
	st, err := store.Open(ctx, env.DB)
	if err != nil {
		return err
	}
	// One process driver per control plane: a second service waits here
	// instead of starting duplicate runtimes.
	release, err := st.Lock(ctx, env.Log)
	if err != nil {
		if ctx.Err() != nil {
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
	})
	if err != nil {
		return err
	}
	defer drv.Close()
	if err := drv.Start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped while starting
		}
		return err
	}
	var d app.Driver = drv
	if wrap != nil {
		d = wrap(d)
	}
	a, err := app.New(app.Options{Bus: env.Bus, Log: env.Log, Metrics: env.Metrics}, d)
	if err != nil {
		return err
	}
	return a.Run(ctx)
}
