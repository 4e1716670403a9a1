// Package neon is the database service: it answers cmd.database.create and
// cmd.database.delete by giving each customer an isolated Postgres database
// and role, storing the connection URL encrypted in the secret store, and
// publishing database.created / database.deleted / database.failed. Over a
// customer's lifecycle it archives the database (cmd.database.archive:
// pg_dump to archive storage, then the live database goes), restores it
// (cmd.database.restore) and deletes the archive (cmd.database.delete_archive).
//
// The database comes from a driver chosen by DATABASE_DRIVER. The embedded
// default, "postgres", clones each customer's database from a migrated
// template on a Postgres server the service administers (DATABASE_ADMIN_URL).
// The "neon" driver gives each customer a Neon branch of a parent branch
// that holds the migrated schema (NEON_* settings; see README.md), behind
// the same app.Driver port.
package neon

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/pgcluster"
	"clawdbot.cloud/pkg/service"
	"clawdbot.cloud/services/neon/internal/adapters/archive"
	neondriver "clawdbot.cloud/services/neon/internal/adapters/neon"
	"clawdbot.cloud/services/neon/internal/adapters/postgres"
	"clawdbot.cloud/services/neon/internal/app"
)

// TemplateDatabase is the postgres driver's template database on the
// customer-database server (pkg/dbroles' BootstrapCustomerAdmin hands it
// to the customer admin role).
const TemplateDatabase = postgres.TemplateDatabase

// Run is the service: it validates its configuration, prepares the driver
// (for postgres: the template database), then handles database commands
// until ctx ends.
func Run(ctx context.Context, env *service.Env) error {
	cfg, err := loadConfig(env.Config)
	if err != nil {
		return err
	}
	drv, err := openDriver(ctx, cfg, env)
	if err != nil {
		return err
	}
	defer drv.Close()
	env.AddReadiness(drv.Ping)

	a, err := app.New(drv, env)
	if err != nil {
		return err
	}
	a.SetConcurrency(cfg.Concurrency)
	if p, ok := drv.(interface{ RunPool(context.Context) }); ok {
		pctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); p.RunPool(pctx) }()
		defer func() { stop(); <-done }()
	}
	env.Log.Info("database service ready", "driver", cfg.Driver, "pool_size", cfg.PoolSize)
	return a.Run(ctx)
}

// driver is what Run needs of a driver beyond the app's port: shutdown and
// a readiness check.
type driver interface {
	app.Driver
	Ping(ctx context.Context) error
	Close()
}

// registerer is env's metrics registry as an interface: a nil *Registry
// must not become a non-nil prometheus.Registerer.
func registerer(env *service.Env) prometheus.Registerer {
	if env.Metrics == nil {
		return nil
	}
	return env.Metrics
}

// archiveStorage opens the drivers' archive store — a local directory
// (ARCHIVE_DIR, default <data dir>/archives) or, with ARCHIVE_STORE=s3, an
// S3-compatible bucket whose archives are encrypted under keys kept in the
// secret store — and finds pg_dump and pg_restore. Without a directory or
// the binaries the service still runs; archive and restore commands then
// fail with the reason.
func archiveStorage(ctx context.Context, cfg settings, env *service.Env) (postgres.Archives, string, error) {
	binDir, err := pgcluster.FindBinDir()
	if err != nil {
		env.Log.Warn("pg_dump and pg_restore not found: archive and restore are refused", "err", err)
		binDir = ""
	}
	if cfg.ArchiveStore == storeS3 {
		store, err := archive.NewS3(ctx, cfg.S3, env.Secrets)
		if err != nil {
			return nil, "", err
		}
		env.Log.Info("archives in S3-compatible storage", "endpoint", cfg.S3.Endpoint, "bucket", cfg.S3.Bucket)
		return store, binDir, nil
	}
	dir := cfg.ArchiveDir
	if dir == "" && env.DataDir != "" {
		dir = filepath.Join(env.DataDir, "archives")
	}
	if dir == "" {
		env.Log.Warn("no ARCHIVE_DIR and no data dir: archive and restore are refused")
		return nil, binDir, nil
	}
	store, err := archive.NewDir(dir)
	if err != nil {
		return nil, "", err
	}
	return store, binDir, nil
}

// openDriver builds the configured driver.
func openDriver(ctx context.Context, cfg settings, env *service.Env) (driver, error) {
	switch cfg.Driver {
	case driverPostgres:
		archives, binDir, err := archiveStorage(ctx, cfg, env)
		if err != nil {
			return nil, err
		}
		d, err := postgres.Open(ctx, postgres.Config{
			AdminURL:     cfg.AdminURL,
			CustomerHost: cfg.CustomerHost,
			Secrets:      env.Secrets,
			Log:          env.Log,
			Archives:     archives,
			BinDir:       binDir,
			Limits:       cfg.Limits,
			Pool:         postgres.PoolConfig{Size: cfg.PoolSize, BusyCommits: cfg.PoolBusyCommits, Metrics: registerer(env)},
		})
		if err != nil {
			return nil, fmt.Errorf("postgres driver: %w", err)
		}
		return d, nil
	case driverNeon:
		archives, binDir, err := archiveStorage(ctx, cfg, env)
		if err != nil {
			return nil, err
		}
		d, err := neondriver.Open(ctx, neondriver.Config{
			APIURL:             cfg.Neon.APIURL,
			APIKey:             cfg.Neon.APIKey,
			Placement:          cfg.Neon.Placement,
			BranchesPerProject: cfg.Neon.BranchesPerProject,
			OrgID:              cfg.Neon.OrgID,
			RegionID:           cfg.Neon.RegionID,
			DB:                 env.DB,
			Schema:             "neon",
			ProjectID:          cfg.Neon.ProjectID,
			ParentBranchID:     cfg.Neon.ParentBranchID,
			DatabaseName:       cfg.Neon.DatabaseName,
			RoleName:           cfg.Neon.RoleName,
			Archives:           archives,
			BinDir:             binDir,
			Secrets:            env.Secrets,
			Log:                env.Log.With("driver", driverNeon),
			Metrics:            registerer(env),
			HTTPClient:         env.TraceClient(&http.Client{Timeout: 30 * time.Second}),
		})
		if err != nil {
			return nil, fmt.Errorf("neon driver: %w", err)
		}
		return d, nil
	default:
		// loadConfig accepts only known drivers.
		return nil, fmt.Errorf("unknown database driver %q", cfg.Driver)
	}
}
