// Package postgres is the embedded database driver: on a Postgres server it
// administers as a superuser, each customer gets a LOGIN role and a database
// cloned from a template that carries the customer schema (pkg/customerdb),
// owned by that role and closed to every other role — the local analogue of
// a Neon branch.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Secrets is where the driver keeps each customer's connection URL.
// *secrets.Store satisfies it; Get reports a missing secret with an error
// wrapping secrets.ErrNotFound.
type Secrets interface {
	Get(ctx context.Context, ref string) ([]byte, error)
	Put(ctx context.Context, ref string, plaintext []byte) error
	Delete(ctx context.Context, ref string) error
}

// Config configures the driver.
type Config struct {
	// AdminURL is a postgres:// URL of the role administering the server
	// that hosts the customer databases: a superuser, or (as production
	// should) a role with CREATEROLE and CREATEDB (pkg/dbroles'
	// CustomerAdmin) that can connect to the URL's database. Its sslmode carries over to customers' URLs.
	AdminURL string
	// CustomerHost, when set, replaces the admin URL's host in customers'
	// URLs: a host keeps the admin URL's port, a host:port replaces both.
	CustomerHost string
	// Secrets stores the customers' connection URLs.
	Secrets Secrets
	// Log receives the driver's own messages; never a credential.
	Log *slog.Logger
	// Archives is archive storage for database dumps; nil refuses
	// archive and restore.
	Archives Archives
	// BinDir holds pg_dump and pg_restore (pgcluster.FindBinDir); their
	// major version must not be older than the server's.
	BinDir string
	// Limits bound what each customer's role may hold of the server; the
	// zero value means DefaultLimits.
	Limits Limits
	// Pool is the warm pool of databases made ahead of signups (see
	// RunPool); the zero value keeps none.
	Pool PoolConfig
}

// Limits are the per-role settings every customer role gets (ALTER ROLE):
// a customer's runtime, however it misbehaves, cannot take more than its
// share of the server's connections, run a statement for minutes or keep
// a transaction open while idle (holding locks and blocking vacuum).
type Limits struct {
	// ConnectionLimit is the role's CONNECTION LIMIT.
	ConnectionLimit int
	// StatementTimeout is the role's statement_timeout.
	StatementTimeout time.Duration
	// IdleInTransactionTimeout is the role's
	// idle_in_transaction_session_timeout.
	IdleInTransactionTimeout time.Duration
}

// DefaultLimits are the limits when none are configured: 10 connections
// (the runtime's pool is smaller), 30 s statements, 1 min idle in a
// transaction.
var DefaultLimits = Limits{ConnectionLimit: 10, StatementTimeout: 30 * time.Second, IdleInTransactionTimeout: time.Minute}

// defaultAdminConns is the admin pool's size unless the admin URL sets
// pool_max_conns. Every create holds one connection for its whole run (its
// advisory lock is the session's), so pgxpool's default of max(4, CPUs)
// made creates queue behind four CREATE DATABASEs while the bus delivered
// eight commands at a time.
const defaultAdminConns = 16

// Driver provisions customer databases on one Postgres server. It is safe
// for concurrent use, also by several processes: every change to a customer
// or to the template happens under a Postgres advisory lock.
type Driver struct {
	admin   *pgxpool.Pool
	connCfg *pgx.ConnConfig // the admin's; copied to reach other databases
	host    string          // host:port customers' URLs name
	sslmode string          // of the admin URL, "" when it sets none
	secrets Secrets
	log     *slog.Logger
	// archives and binDir serve archive and restore.
	archives Archives
	binDir   string
	limits   Limits
	// super is whether the admin is a superuser; a CREATEROLE admin makes
	// itself a member of the roles whose objects it changes (member).
	super bool
	// pool is the warm pool; nil keeps none.
	pool *pool
}

// Open connects to the server and makes sure the template database exists
// and carries every customerdb migration of this build.
func Open(ctx context.Context, cfg Config) (*Driver, error) {
	if cfg.Secrets == nil {
		return nil, errors.New("no secret store")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.AdminURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// The parse error would quote the URL, password included.
		return nil, errors.New("admin URL is not a postgres://user:password@host:port/database URL")
	}
	connCfg, err := pgx.ParseConfig(cfg.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("admin URL: %w", err) // pgconn redacts the password
	}
	host, err := customerHost(u.Host, connCfg.Port, cfg.CustomerHost)
	if err != nil {
		return nil, err
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.AdminURL)
	if err != nil {
		return nil, fmt.Errorf("admin URL: %w", err)
	}
	if !u.Query().Has("pool_max_conns") {
		poolCfg.MaxConns = defaultAdminConns
	}
	warm, err := newPool(cfg.Pool)
	if err != nil {
		return nil, err
	}
	admin, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("admin pool: %w", err)
	}
	d := &Driver{
		admin:    admin,
		connCfg:  connCfg,
		host:     host,
		sslmode:  u.Query().Get("sslmode"),
		secrets:  cfg.Secrets,
		log:      cfg.Log,
		archives: cfg.Archives,
		binDir:   cfg.BinDir,
		limits:   cfg.Limits,
		pool:     warm,
	}
	if d.limits == (Limits{}) {
		d.limits = DefaultLimits
	}
	if err := admin.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&d.super); err != nil {
		admin.Close()
		return nil, fmt.Errorf("inspect admin role: %w", err)
	}
	if err := d.ensureTemplate(ctx); err != nil {
		admin.Close()
		return nil, err
	}
	// Stale memberships cost only time: failing to end them (a pool entry
	// dropped by another replica meanwhile, say) must not stop the service.
	if err := d.leaveStale(ctx); err != nil {
		d.log.Warn("cannot end the admin's stale memberships of customer roles", "err", err)
	}
	return d, nil
}

// customerHost is the host:port customers' URLs name.
func customerHost(adminHost string, adminPort uint16, override string) (string, error) {
	if override == "" {
		return adminHost, nil
	}
	if _, _, err := net.SplitHostPort(override); err == nil {
		return override, nil
	}
	h := override
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		h = h[1 : len(h)-1]
	}
	if h == "" {
		return "", fmt.Errorf("customer host %q is empty", override)
	}
	return net.JoinHostPort(h, fmt.Sprint(adminPort)), nil
}

// Close closes the admin connections.
func (d *Driver) Close() { d.admin.Close() }

// Ping reports whether the server answers.
func (d *Driver) Ping(ctx context.Context) error { return d.admin.Ping(ctx) }

// withLock runs fn on one admin connection while holding the session
// advisory lock named key. Everything fn does runs on that connection, so
// concurrent holders never compete for a second pooled connection.
func (d *Driver) withLock(ctx context.Context, key string, fn func(c *pgxpool.Conn) error) error {
	c, err := d.admin.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("admin connection: %w", err)
	}
	defer c.Release()
	unlock, err := lock(ctx, c, key)
	if err != nil {
		return err
	}
	defer unlock()
	return fn(c)
}

// lock takes the session advisory lock named key on c, waiting for it.
func lock(ctx context.Context, c *pgxpool.Conn, key string) (unlock func(), err error) {
	id := lockID(key)
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", id); err != nil {
		return nil, fmt.Errorf("lock %s: %w", key, err)
	}
	return func() {
		// The lock belongs to the session: if unlocking fails, close the
		// connection rather than pool it still holding the lock.
		bg := context.WithoutCancel(ctx)
		if _, err := c.Exec(bg, "SELECT pg_advisory_unlock($1)", id); err != nil {
			c.Conn().Close(bg) //nolint:errcheck
		}
	}, nil
}

// lockID maps a lock name onto Postgres's 64-bit advisory lock space.
// Advisory locks are per database: every process takes them on the admin
// URL's database, so they all meet.
func lockID(key string) int64 {
	h := fnv.New64a()
	h.Write([]byte("claw-neon:" + key))
	return int64(h.Sum64())
}

// connect opens a connection to database as user (the admin when user is
// empty). The caller closes it.
func (d *Driver) connect(ctx context.Context, database, user, password string) (*pgx.Conn, error) {
	cfg := d.connCfg.Copy()
	cfg.Database = database
	if user != "" {
		cfg.User, cfg.Password = user, password
	}
	return pgx.ConnectConfig(ctx, cfg)
}

// member makes the admin a member of role, as creating a database owned by
// role, handing objects over to it and dropping its database require of an
// admin that is not a superuser (CREATEROLE lets it grant itself any
// non-superuser role on PostgreSQL 15, the roles it created from 16).
//
// The admin is a member only while it works on the role: see asMember.
func (d *Driver) member(ctx context.Context, c *pgxpool.Conn, role string) error {
	if d.super {
		return nil
	}
	if _, err := c.Exec(ctx, "GRANT "+ident(role)+" TO CURRENT_USER"); err != nil {
		return fmt.Errorf("make the admin a member of %s: %w", role, err)
	}
	return nil
}

// asMember runs fn with the admin a member of role, and ends the membership
// after, whether fn succeeded or not.
//
// An admin that stayed a member of every customer's role made the server
// slower with every customer: PostgreSQL recomputes the roles a role belongs
// to after any role change on the server, and up to 16 it looks up each
// membership list by a linear search of the catalog cache's lists
// (SearchCatCacheList), so every statement of the admin that checks a
// privilege after a signup cost O(customers²). At 1,500 customers an ALTER
// DATABASE … RENAME took 12 ms instead of 0.4 (psql against a scratch
// cluster), and in a 500-signup burst the admin's backends were 40 % of the
// machine's CPU (perf; docs/architecture.md, "What grew with the customers").
//
// A membership left behind (a crash between the grant and the revoke, or an
// earlier version that kept them all) is revoked by leaveStale at the next
// start; until then it only costs time.
func (d *Driver) asMember(ctx context.Context, c *pgxpool.Conn, role string, fn func() error) error {
	if err := d.member(ctx, c, role); err != nil {
		return err
	}
	err := fn()
	if !d.super {
		if _, lerr := c.Exec(context.WithoutCancel(ctx), "REVOKE "+ident(role)+" FROM CURRENT_USER"); lerr != nil {
			d.log.Warn("cannot end the admin's membership of a customer role; the next start will", "role", role, "err", lerr)
		}
	}
	return err
}

// leaveStale revokes the admin's memberships that no work holds: those an
// earlier version kept for good and those a crash left behind (see
// asMember). A customer's role is left alone while another process holds its
// lock, and entries being made or dropped for the warm pool while the
// pool's lock holder works on them (dropping them ends the membership); the
// template owner's membership is for good. Claims and fills grant and
// revoke inside one transaction, so a ready pool entry's membership is
// always stale.
func (d *Driver) leaveStale(ctx context.Context) error {
	if d.super {
		return nil
	}
	c, err := d.admin.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("admin connection: %w", err)
	}
	defer c.Release()
	rows, err := c.Query(ctx, `SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
		WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = current_user)
		AND r.rolname <> $1 AND NOT starts_with(r.rolname, $2) AND NOT starts_with(r.rolname, $3)`,
		TemplateOwner, fillPrefix, dropPrefix)
	if err != nil {
		return fmt.Errorf("list the admin's memberships: %w", err)
	}
	roles, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(roles) == 0 {
		return err
	}
	ids := make([]int64, len(roles))
	for i, r := range roles {
		ids[i] = lockID("customer:" + r)
		if strings.HasPrefix(r, poolPrefix) {
			ids[i] = 0 // no lock: pool entries are claimed in one transaction
		}
	}
	rows, err = c.Query(ctx, `SELECT n, id FROM unnest($1::text[], $2::bigint[]) AS u(n, id)
		WHERE id = 0 OR pg_try_advisory_lock(id)`, roles, ids)
	if err != nil {
		return fmt.Errorf("lock the admin's stale memberships: %w", err)
	}
	type held struct {
		Name string
		ID   int64
	}
	free, err := pgx.CollectRows(rows, pgx.RowToStructByPos[held])
	if err != nil {
		// Some locks may be held without being known: closing the
		// connection releases them.
		c.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck
		return fmt.Errorf("lock the admin's stale memberships: %w", err)
	}
	defer func() {
		locked := []int64{}
		for _, h := range free {
			if h.ID != 0 {
				locked = append(locked, h.ID)
			}
		}
		if _, err := c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(id) FROM unnest($1::bigint[]) AS u(id)", locked); err != nil {
			c.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck // closing releases the locks
		}
	}()
	if len(free) == 0 {
		return nil
	}
	quoted := make([]string, len(free))
	for i, h := range free {
		quoted[i] = ident(h.Name)
	}
	if _, err := c.Exec(ctx, "REVOKE "+strings.Join(quoted, ", ")+" FROM CURRENT_USER"); err != nil {
		return fmt.Errorf("revoke the admin's stale memberships: %w", err)
	}
	d.log.Info("ended the admin's stale memberships of customer roles", "roles", len(free))
	return nil
}

// ident quotes a name for SQL.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }
