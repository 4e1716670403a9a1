package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tcpostgres "github.com/testcontainers/testcontainers-go/modules/postgres"

	"clawdbot.cloud/pkg/pgcluster"
)

// EnvURL names the environment variable that points the tests at an existing
// server instead of a private one.
const EnvURL = "TEST_DATABASE_URL"

const (
	tempPattern    = "pgtest-*"      // private cluster directories in os.TempDir
	ownerFile      = "owner.pid"     // in such a directory: the test binary's pid
	containerImage = "postgres:15"   // the testcontainers fallback
	setupTimeout   = 3 * time.Minute // image pulls included
	dockerTimeout  = 5 * time.Second // for a Docker engine to answer
)

// setup finds a server, trying each source in turn, and connects to it.
func setup() (*server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if u := os.Getenv(EnvURL); u != "" {
		s, err := connect(ctx, u, func(context.Context) error { return nil })
		if err != nil {
			return nil, fmt.Errorf("%s is set but unusable: %w", EnvURL, err)
		}
		return s, nil
	}
	var tried []string
	s, err := privateCluster(ctx)
	if err == nil {
		return s, nil
	}
	tried = append(tried, fmt.Sprintf("a private cluster from the local PostgreSQL binaries: %v", err))
	s, err = container(ctx)
	if err == nil {
		return s, nil
	}
	tried = append(tried, fmt.Sprintf("a %s container through testcontainers: %v", containerImage, err))
	return nil, fmt.Errorf("tried, in order:\n- %s unset\n- %s\n(install postgresql-15, start Docker, or set %s)",
		EnvURL, strings.Join(tried, "\n- "), EnvURL)
}

// connect opens the admin pool on u; on failure it calls stop itself.
func connect(ctx context.Context, u string, stop func(context.Context) error) (*server, error) {
	if _, err := withDatabase(u, "postgres"); err != nil {
		return nil, errors.Join(err, stop(ctx))
	}
	admin, err := pgxpool.New(ctx, u)
	if err == nil {
		err = admin.Ping(ctx)
		if err != nil {
			admin.Close()
		}
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("connect: %w", err), stop(ctx))
	}
	return &server{url: u, admin: admin, stop: stop}, nil
}

// privateCluster starts a throwaway cluster in a new temporary directory,
// which its stop function removes.
func privateCluster(ctx context.Context) (*server, error) {
	sweep(ctx)
	dir, err := os.MkdirTemp("", tempPattern)
	if err != nil {
		return nil, err
	}
	// The owner file lets a later test binary reclaim the directory if this
	// one dies without calling Main.
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	c, err := pgcluster.Start(ctx, dir, logger, pgcluster.WithoutDurability())
	if err != nil {
		return nil, errors.Join(err, pgcluster.StopDir(ctx, dir, logger), os.RemoveAll(dir))
	}
	return connect(ctx, c.AdminURL(), func(ctx context.Context) error {
		if err := c.Stop(ctx); err != nil {
			return err
		}
		return os.RemoveAll(dir)
	})
}

// sweep stops and removes the private clusters of test binaries that are no
// longer running. Failures are logged and left for a later sweep.
func sweep(ctx context.Context) {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPattern))
	for _, dir := range dirs {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not ours, or being created
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		logger.Warn("removing the PostgreSQL cluster of a dead test binary", "dir", dir, "pid", pid)
		if err := pgcluster.StopDir(ctx, dir, logger); err != nil {
			logger.Warn("stop leftover cluster", "dir", dir, "err", err)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			logger.Warn("remove leftover cluster", "dir", dir, "err", err)
		}
	}
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// container starts a PostgreSQL container, if a Docker engine answers.
func container(ctx context.Context) (*server, error) {
	if err := dockerAnswers(ctx); err != nil {
		return nil, fmt.Errorf("no Docker engine answered: %w", err)
	}
	pw := make([]byte, 16)
	_, _ = rand.Read(pw)
	c, err := tcpostgres.Run(ctx, containerImage,
		tcpostgres.WithUsername(pgcluster.SuperUser),
		tcpostgres.WithPassword(hex.EncodeToString(pw)),
		tcpostgres.WithDatabase("postgres"),
		tcpostgres.BasicWaitStrategies(),
	)
	stop := func(context.Context) error { return testcontainers.TerminateContainer(c) }
	if err != nil {
		return nil, errors.Join(err, stop(ctx))
	}
	u, err := c.ConnectionString(ctx, "sslmode=disable")
	if err != nil {
		return nil, errors.Join(err, stop(ctx))
	}
	return connect(ctx, u, stop)
}

func dockerAnswers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, dockerTimeout)
	defer cancel()
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	defer cli.Close()
	_, err = cli.Ping(ctx, client.PingOptions{})
	return err
}
