package postgres

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/services/neon/internal/app"
)

// The warm pool keeps databases made ahead of signups: each is a role and a
// database exactly as Create makes them (cloned from the template, handed
// over, limited, closed to PUBLIC), with a random password nobody keeps and
// no customer data. Create claims one by renaming it to the customer's name
// instead of cloning the template, which is what a signup waits for.
//
// The state of the pool is the catalog of the customer-database server
// itself, read through the names:
//
//	clawfill_<hex>  being made (only the replica holding the pool lock makes them)
//	clawpool_<hex>  ready to be claimed
//	clawdrop_<hex>  taken out of the pool (it shrank), being dropped
//
// A claim is one transaction on that server: ALTER DATABASE clawpool_x
// RENAME TO the customer's name, then the role likewise. Postgres locks the
// database for the rename and looks its name up again once it holds the
// lock, so of two claimers of the same entry the second finds it gone and
// tries the next: an entry never goes to two customers, and a crash leaves
// it either in the pool or the customer's, never half of each. Nothing
// about the pool lives in the control-plane database, which in production
// is another server (a transaction cannot span both).
const (
	poolPrefix = "clawpool_"
	fillPrefix = "clawfill_"
	dropPrefix = "clawdrop_"
)

// PoolConfig configures the warm pool.
type PoolConfig struct {
	// Size is how many ready databases the pool keeps; 0 turns it off.
	Size int
	// Interval is how often each replica counts the pool and, when it holds
	// the pool lock, refills or shrinks it. A claim in this process starts a
	// round at once. Default 1s.
	Interval time.Duration
	// BusyCommits is the server's rate of transactions a second above
	// which a refill waits for the server to calm down (see busy); 0
	// refills regardless.
	BusyCommits int
	// MaxDefer is the longest a refill waits for a busy server before it
	// makes one entry anyway. Default 10s.
	MaxDefer time.Duration
	// Metrics receives the pool's metrics; nil registers none.
	Metrics prometheus.Registerer
}

// quietBeforeFill is how long after this process's last claim the pool
// starts refilling while it holds at least half its size; below that,
// quietBeforeLowFill. A claim is a signup's first step: the rest of it (the
// runtime's start, the workspace build, the check) runs for seconds after
// the last claim of a burst, and a fill started 1 s after it took most of a
// core from those (`clawctl bench -n 50`, Postgres CPU by process each
// second). Below half, a steady stream of signups must not drain the pool.
const (
	quietBeforeFill    = 5 * time.Second
	quietBeforeLowFill = time.Second
)

// fillTimeout bounds the making of one pool entry.
const fillTimeout = time.Minute

// A refill waits while the server is busy — committing more than
// PoolConfig.BusyCommits transactions a second — but makes one entry at
// least every PoolConfig.MaxDefer, so a server that never calms down still gets
// its pool back, slowly. The claims of a burst end within its first
// moments, yet its signups keep the server busy long after: 50 concurrent
// signups ran for ~2 s after claims that took 0.3 s, 500 for ~35 s, and a
// refill started a second after the last claim took a fifth of the
// server's CPU from them (`clawctl bench -n 500`: p99 31 s with the refill
// held back, 37–39 s without, one run each; 100–175 transactions a second
// while only the pool fills, 800–2,100 during a burst, ~45 on an idle
// platform).
const defaultMaxDefer = 10 * time.Second

// pool is the driver's warm pool state.
type pool struct {
	size     int
	interval time.Duration
	kick     chan struct{}
	// lastClaim is when this process last claimed (or missed), in
	// UnixNano: refills wait for a quiet moment (see poolRound).
	lastClaim atomic.Int64
	// The rest is the refill's, touched only by RunPool's goroutine.
	busyCommits int
	// filling is set once a refill has started, until the pool is full or
	// a claim interrupts it: the server's rate is not checked again
	// meanwhile (the refill's own transactions would count).
	filling bool
	// commits and sampledAt are the server's transaction count when last
	// sampled; deferredSince is when the refill first waited for a busy
	// server (zero while it does not).
	commits                  int64
	sampledAt, deferredSince time.Time
	busyNow                  bool
	maxDefer                 time.Duration

	ready  prometheus.Gauge
	target prometheus.Gauge
	claims *prometheus.CounterVec
	fills  *prometheus.CounterVec
}

func newPool(cfg PoolConfig) (*pool, error) {
	if cfg.Size <= 0 {
		return nil, nil
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	p := &pool{
		size: cfg.Size, interval: cfg.Interval, kick: make(chan struct{}, 1),
		busyCommits: cfg.BusyCommits, maxDefer: cmp.Or(cfg.MaxDefer, defaultMaxDefer),
		ready: prometheus.NewGauge(prometheus.GaugeOpts{Name: "claw_database_pool_ready",
			Help: "Warm pool databases ready to be claimed, as last counted by this replica."}),
		target: prometheus.NewGauge(prometheus.GaugeOpts{Name: "claw_database_pool_size",
			Help: "Configured size of the warm pool (DATABASE_POOL_SIZE)."}),
		claims: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claw_database_pool_claims_total",
			Help: "Customer database creates by whether a warm pool database was claimed (hit) or none was ready (miss)."}, []string{"result"}),
		fills: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claw_database_pool_fills_total",
			Help: "Warm pool databases made (ok) or failed to make (error), dropped when the pool shrank (dropped), and refill rounds put off while the server was busy (deferred)."}, []string{"result"}),
	}
	p.target.Set(float64(cfg.Size))
	for _, r := range []string{"hit", "miss"} {
		p.claims.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error", "dropped", "deferred"} {
		p.fills.WithLabelValues(r)
	}
	if cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{p.ready, p.target, p.claims, p.fills} {
			if err := cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("register pool metrics: %w", err)
			}
		}
	}
	return p, nil
}

// claim renames a ready pool entry to db's name (database and role), gives
// the role a new password and stores its URL under db.Ref. It reports
// whether it got an entry: false only when no entry it could use is left.
// The caller holds the name's lock on c; the name has neither role nor
// database yet.
//
// Concurrent claimers each try candidates in a random order, so they
// rarely want the same entry; one that finds every candidate taken by
// others lists the pool again, without the entries it tried (taken or
// broken), so it ends when none is left. (With the oldest eight for
// everyone, a burst of sixteen claims fought over eight entries and half
// of them fell back to cloning the template — ~1.5 s and ~0.3 s of the
// server's CPU each — with the pool still full.)
func (d *Driver) claim(ctx context.Context, c *pgxpool.Conn, db app.Database) (bool, error) {
	if d.pool == nil {
		return false, nil
	}
	password := newPassword()
	verifier, err := customerVerifier(password)
	if err != nil {
		return false, err
	}
	// The entry's role gets its login, password and limits here (see
	// fillOne).
	then := strings.Join(append([]string{"ALTER ROLE " + ident(db.Name) + " WITH LOGIN PASSWORD " + literal(verifier)},
		d.limitStatements(db.Name)...), "; ")
	tried := []string{}
	for ctx.Err() == nil {
		rows, err := c.Query(ctx, `SELECT datname FROM pg_database
			WHERE starts_with(datname, $1) AND datname <> ALL($2) ORDER BY random() LIMIT 8`, poolPrefix, tried)
		if err != nil {
			return false, fmt.Errorf("list pool: %w", err)
		}
		candidates, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return false, fmt.Errorf("list pool: %w", err)
		}
		if len(candidates) == 0 {
			break
		}
		for _, cand := range candidates {
			tried = append(tried, cand)
			ok, err := d.rename(ctx, c, cand, db.Name, then)
			if err != nil {
				// A broken entry must not fail the signup: cloning the
				// template still works, and the filler drops what it cannot
				// use.
				d.log.Warn("cannot claim a pool database; trying the next", "pool_entry", cand, "err", err)
				continue
			}
			if ok {
				d.pool.claims.WithLabelValues("hit").Inc()
				d.kickPool()
				return true, d.secrets.Put(ctx, db.Ref, []byte(d.customerURL(db.Name, db.Name, password)))
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	d.pool.claims.WithLabelValues("miss").Inc()
	d.kickPool()
	return false, nil
}

// rename moves the database and the role named from to to, and runs then
// (a statement, or "") in the same implicit transaction: one round trip,
// all or nothing. It reports false when from is no longer there (another
// claimer renamed it first). The admin is a member of the role only inside
// that transaction (see asMember).
func (d *Driver) rename(ctx context.Context, c *pgxpool.Conn, from, to, then string) (bool, error) {
	q := "ALTER DATABASE " + ident(from) + " RENAME TO " + ident(to) + "; ALTER ROLE " + ident(from) + " RENAME TO " + ident(to)
	if then != "" {
		q += "; " + then
	}
	if !d.super {
		q = "GRANT " + ident(from) + " TO CURRENT_USER; " + q + "; REVOKE " + ident(to) + " FROM CURRENT_USER"
	}
	// No arguments: pgx sends it in the simple protocol, where several
	// statements form one implicit transaction.
	if _, err := c.Exec(ctx, q); err != nil {
		switch sqlState(err) {
		case "42704", // undefined_object: the role went with its entry
			"3D000": // invalid_catalog_name: claimed meanwhile
			return false, nil
		}
		return false, fmt.Errorf("rename %s: %w", from, err)
	}
	return true, nil
}

func (d *Driver) kickPool() {
	d.pool.lastClaim.Store(time.Now().UnixNano())
	select {
	case d.pool.kick <- struct{}{}:
	default:
	}
}

// RunPool keeps the warm pool at its size until ctx ends. Every replica
// counts the pool (its metric); the one holding the pool's advisory lock
// drops leftovers of interrupted rounds, makes entries until the pool is
// full and drops entries beyond its size. Without a pool it returns at
// once.
func (d *Driver) RunPool(ctx context.Context) {
	if d.pool == nil {
		return
	}
	t := time.NewTicker(d.pool.interval)
	defer t.Stop()
	for {
		if err := d.poolRound(ctx); err != nil && ctx.Err() == nil {
			d.pool.fills.WithLabelValues("error").Inc()
			d.log.Warn("warm pool round failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.pool.kick:
		}
	}
}

// poolRound is one round of RunPool.
func (d *Driver) poolRound(ctx context.Context) error {
	c, err := d.admin.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("admin connection: %w", err)
	}
	defer c.Release()
	id := lockID("pool")
	var held bool
	if err := c.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", id).Scan(&held); err != nil {
		return fmt.Errorf("pool lock: %w", err)
	}
	if !held {
		n, err := d.countPool(ctx, c)
		d.pool.ready.Set(float64(n))
		return err
	}
	defer func() {
		if _, err := c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", id); err != nil {
			c.Conn().Close(context.WithoutCancel(ctx)) //nolint:errcheck
		}
	}()
	if err := d.dropLeftovers(ctx, c); err != nil {
		return err
	}
	for ctx.Err() == nil {
		n, err := d.countPool(ctx, c)
		if err != nil {
			return err
		}
		d.pool.ready.Set(float64(n))
		switch {
		case n < d.pool.size && time.Since(time.Unix(0, d.pool.lastClaim.Load())) < d.quietBeforeFill(n):
			// Signups are claiming right now: a fill costs the server what a
			// signup's template clone would (~0.2 s of CPU here), so it
			// waits until the burst is over instead of slowing it down. What
			// the server did before the burst says nothing of it after.
			d.pool.filling, d.pool.sampledAt = false, time.Time{}
			return nil
		case n < d.pool.size && !d.pool.filling:
			busy, err := d.busy(ctx, c)
			if err != nil {
				return err
			}
			now := time.Now()
			if !busy {
				d.pool.deferredSince = time.Time{}
				d.pool.filling = true
				continue
			}
			if d.pool.deferredSince.IsZero() {
				d.pool.deferredSince = now
			}
			if now.Sub(d.pool.deferredSince) < d.pool.maxDefer {
				d.pool.fills.WithLabelValues("deferred").Inc()
				return nil
			}
			// Overdue: one entry now, then wait again.
			d.pool.deferredSince = now
			if err := d.fill(ctx, c); err != nil {
				return err
			}
		case n < d.pool.size:
			if err := d.fill(ctx, c); err != nil {
				return err
			}
		case n > d.pool.size:
			if err := d.shrinkOne(ctx, c); err != nil {
				return err
			}
		default:
			d.pool.filling = false
			return nil
		}
	}
	return nil
}

// fill makes one entry. It runs to its end even when ctx ends: a CREATE
// DATABASE canceled on the client may still complete on the server, and
// stopping should not leave that behind.
func (d *Driver) fill(ctx context.Context, c *pgxpool.Conn) error {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fillTimeout)
	defer cancel()
	if err := d.fillOne(fctx, c); err != nil {
		return err
	}
	d.pool.fills.WithLabelValues("ok").Inc()
	if d.pool.busyCommits <= 0 {
		return nil
	}
	// The next busy check measures from here, after this entry's own
	// transactions.
	return d.sampleCommits(ctx, c)
}

// busy reports whether the server committed more than BusyCommits
// transactions a second over the last busyWindow or more; over a shorter
// window it repeats its last verdict. Without a recent sample (claims held the
// refill back meanwhile, or none was taken yet) it takes one and reports
// busy; a later round knows.
func (d *Driver) busy(ctx context.Context, c *pgxpool.Conn) (bool, error) {
	p := d.pool
	if p.busyCommits <= 0 {
		return false, nil
	}
	since := time.Since(p.sampledAt)
	switch {
	case p.sampledAt.IsZero() || since > busyStale:
		p.busyNow = true
		return true, d.sampleCommits(ctx, c)
	case since < busyWindow:
		return p.busyNow, nil
	}
	prev := p.commits
	if err := d.sampleCommits(ctx, c); err != nil {
		return false, err
	}
	rate := float64(p.commits-prev) / since.Seconds()
	p.busyNow = rate > float64(p.busyCommits)
	return p.busyNow, nil
}

// busyWindow is the shortest window busy measures the server's rate over;
// a sample older than busyStale starts a new measurement. A backend that
// never goes idle reports its counts every second or two (at the end of a
// transaction, when no one holds the stats entry it adds to), so a window
// of one second missed a busy backend's report now and then.
const busyWindow, busyStale = 2 * time.Second, 6 * time.Second

// sampleCommits records the server's count of transactions ended, every
// database's: pg_stat_database is readable by any role. Backends report
// their counts every second or two (see busyWindow), so it lags by that.
func (d *Driver) sampleCommits(ctx context.Context, c *pgxpool.Conn) error {
	var n int64
	if err := c.QueryRow(ctx, `SELECT COALESCE(sum(xact_commit + xact_rollback), 0)::bigint FROM pg_stat_database`).Scan(&n); err != nil {
		return fmt.Errorf("server activity: %w", err)
	}
	d.pool.commits, d.pool.sampledAt = n, time.Now()
	return nil
}

// quietBeforeFill is how long the pool waits after the last claim before
// it refills, with n entries ready.
func (d *Driver) quietBeforeFill(n int) time.Duration {
	if 2*n >= d.pool.size {
		return quietBeforeFill
	}
	return quietBeforeLowFill
}

// countPool counts the ready entries.
func (d *Driver) countPool(ctx context.Context, c *pgxpool.Conn) (int, error) {
	var n int
	err := c.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)`, poolPrefix).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pool: %w", err)
	}
	return n, nil
}

// fillOne makes one entry under a clawfill_ name, then renames it into the
// pool: a crash in between leaves a clawfill_ leftover, never a half-made
// entry a customer could claim.
//
// The entry's role cannot log in and has neither password nor limits until
// a claim gives it all three in the statement that renames it: a password
// set here would be replaced unused (and a set costs the server a key
// derivation, see customerSCRAMIterations).
func (d *Driver) fillOne(ctx context.Context, c *pgxpool.Conn) error {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	suffix := hex.EncodeToString(b)
	fill := fillPrefix + suffix
	if _, err := c.Exec(ctx, "CREATE ROLE "+ident(fill)+" WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS"); err != nil {
		return fmt.Errorf("create role %s: %w", fill, err)
	}
	if err := d.member(ctx, c, fill); err != nil {
		return err
	}
	if err := createDatabase(ctx, c, fill); err != nil {
		return err
	}
	if err := d.handOver(ctx, c, fill); err != nil {
		return err
	}
	if err := closeDatabase(ctx, c, fill); err != nil {
		return err
	}
	ok, err := d.rename(ctx, c, fill, poolPrefix+suffix, "")
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("pool entry %s vanished while being made", fill)
	}
	return nil
}

// shrinkOne takes the newest ready entry out of the pool and drops it.
func (d *Driver) shrinkOne(ctx context.Context, c *pgxpool.Conn) error {
	var name string
	err := c.QueryRow(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY oid DESC LIMIT 1`, poolPrefix).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pick pool entry: %w", err)
	}
	drop := dropPrefix + strings.TrimPrefix(name, poolPrefix)
	ok, err := d.rename(ctx, c, name, drop, "")
	if err != nil || !ok { // claimed meanwhile: the next count decides
		return err
	}
	if err := d.dropName(ctx, c, drop); err != nil {
		return err
	}
	d.pool.fills.WithLabelValues("dropped").Inc()
	return nil
}

// dropLeftovers drops what interrupted rounds left: entries being made or
// dropped (only the lock holder makes or drops them, and it holds the lock
// now) and pool names with a database but no role or the reverse.
func (d *Driver) dropLeftovers(ctx context.Context, c *pgxpool.Conn) error {
	rows, err := c.Query(ctx, `
		WITH n AS (
			SELECT datname AS name, true AS db, false AS role FROM pg_database
			UNION ALL SELECT rolname, false, true FROM pg_roles)
		SELECT name FROM n
		WHERE starts_with(name, $1) OR starts_with(name, $2) OR starts_with(name, $3)
		GROUP BY name
		HAVING NOT starts_with(name, $3) OR NOT (bool_or(db) AND bool_or(role))`, fillPrefix, dropPrefix, poolPrefix)
	if err != nil {
		return fmt.Errorf("find pool leftovers: %w", err)
	}
	leftovers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("find pool leftovers: %w", err)
	}
	for _, name := range leftovers {
		d.log.Info("dropping a warm pool leftover", "pool_entry", name)
		if err := d.dropName(ctx, c, name); err != nil {
			return err
		}
	}
	return nil
}
