// Package pgcluster runs a private PostgreSQL server from the PostgreSQL
// binaries installed on the machine (Debian package postgresql-15), for tests
// (through pkg/pgtest) and for clawctl's dev mode.
//
// A cluster directory holds the data directory ("data"), the superuser's
// password ("superuser.password", 0600), the last TCP port ("port") and the
// server log ("postgres.log"). The server listens on 127.0.0.1 only, with
// password (SCRAM) authentication, and no Unix socket. Starting an existing
// directory reuses its data, password and, if still free, its port.
//
// PostgreSQL refuses to run as root. When this process is root, every
// PostgreSQL program runs as the unprivileged user "postgres" and the cluster
// directory is given to that user; each of its parent directories must then
// be traversable by that user (Start creates missing parents with mode 0711
// and reports, rather than fixes, existing ones that are not).
package pgcluster

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// SuperUser is the name of the cluster's superuser role.
const SuperUser = "postgres"

// Cluster is a running PostgreSQL server owned by this process. Only one
// Cluster may run on a given directory at a time.
type Cluster struct {
	dir      string // absolute cluster directory
	dataDir  string // PGDATA
	binDir   string
	id       identity
	log      *slog.Logger
	password string
	port     int

	mu      sync.Mutex
	stopped bool
}

// Option adjusts how Start prepares and runs a cluster.
type Option func(*options)

type options struct {
	noSync bool
}

// WithoutDurability trades crash safety for speed: initdb skips fsync (-N)
// and the server runs with fsync, synchronous_commit and full_page_writes
// off. A crash of the machine may corrupt the cluster, so use it only for
// throwaway clusters such as those of tests; dev mode keeps durability.
func WithoutDurability() Option {
	return func(o *options) { o.noSync = true }
}

// Start starts the cluster in dir, creating dir and running initdb first if
// dir holds no cluster yet, and returns once the server accepts connections.
//
// If a server from an earlier run on the same dir is still running (its
// process was killed before it could stop the server), Start stops it with a
// fast shutdown and starts a fresh one, so that the returned Cluster always
// owns a server running with the current settings. A postmaster.pid left by a
// crash is removed. log may be nil.
func Start(ctx context.Context, dir string, log *slog.Logger, opts ...Option) (*Cluster, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, err := open(dir, log)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(c.dir, c.id); err != nil {
		return nil, err
	}
	if c.password, err = readOrCreatePassword(filepath.Join(c.dir, passwordFile), c.id); err != nil {
		return nil, err
	}
	if err := c.initdb(ctx, o); err != nil {
		return nil, err
	}
	running, err := leftover(c.dataDir, log)
	if err != nil {
		return nil, err
	}
	if running {
		log.Warn("stopping PostgreSQL server left running by an earlier process", "dir", c.dir)
		if err := c.pgCtlStop(ctx); err != nil {
			return nil, fmt.Errorf("stop leftover server: %w", err)
		}
	}
	// Another program may take the chosen port before the server binds it;
	// then try again with another.
	avoid := 0
	for attempt := 1; ; attempt++ {
		port, err := choosePort(c.dir, c.id, avoid)
		if err != nil {
			return nil, err
		}
		if err := writeConf(c.dataDir, port, o, c.id); err != nil {
			return nil, err
		}
		err = c.pgCtlStart(ctx)
		if err == nil {
			c.port = port
			log.Info("PostgreSQL started", "dir", c.dir, "port", port, "user", c.id.name)
			return c, nil
		}
		if attempt == 3 || !errors.Is(err, errPortInUse) {
			return nil, err
		}
		log.Warn("PostgreSQL port taken, retrying with another", "port", port)
		avoid = port
	}
}

// open describes the cluster in dir without touching it.
func open(dir string, log *slog.Logger) (*Cluster, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	binDir, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	id, err := currentIdentity()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("cluster dir %s: %w", dir, err)
	}
	return &Cluster{
		dir: abs, dataDir: filepath.Join(abs, dataSubdir),
		binDir: binDir, id: id, log: log,
	}, nil
}

// initdb creates the data directory unless it already holds a cluster. It
// initialises a sibling directory and renames it into place, so that an
// interrupted initdb never leaves a half-made cluster behind.
func (c *Cluster) initdb(ctx context.Context, o options) error {
	_, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION"))
	if err == nil {
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stat cluster: %w", err)
	}
	// An empty data directory may be replaced; a non-empty one is not ours.
	if err := os.Remove(c.dataDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s exists but holds no PostgreSQL cluster: %w", c.dataDir, err)
	}
	tmp := c.dataDir + ".initdb"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("remove unfinished initdb: %w", err)
	}
	args := []string{
		"-D", tmp, "-U", SuperUser, "--pwfile=" + filepath.Join(c.dir, passwordFile),
		"--auth-host=scram-sha-256", "--auth-local=peer", "--encoding=UTF8", "--locale=C",
	}
	if o.noSync {
		args = append(args, "--no-sync")
	}
	c.log.Info("initialising PostgreSQL cluster", "dir", c.dir)
	if _, err := c.run(ctx, "initdb", args...); err != nil {
		return err
	}
	if err := includeConf(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.dataDir); err != nil {
		return fmt.Errorf("move new cluster into place: %w", err)
	}
	return nil
}

// AdminURL returns the superuser's connection URL for the postgres database,
// e.g. postgres://postgres:<password>@127.0.0.1:<port>/postgres?sslmode=disable.
func (c *Cluster) AdminURL() string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(SuperUser, c.password),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Port returns the TCP port the server listens on, on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// Dir returns the absolute cluster directory.
func (c *Cluster) Dir() string { return c.dir }

// BinDir returns the directory of the PostgreSQL programs in use, where
// psql and pg_dump can be found too.
func (c *Cluster) BinDir() string { return c.binDir }

// Stop shuts the server down with a fast shutdown (open sessions are
// disconnected, their transactions rolled back) and waits for it to exit.
// Stopping a stopped cluster does nothing. The data stays in the cluster
// directory for a later Start.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	if err := c.pgCtlStop(ctx); err != nil {
		return err
	}
	c.stopped = true
	c.log.Info("PostgreSQL stopped", "dir", c.dir)
	return nil
}
