package runtime

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/services/runtime/internal/observe"
)

// dbIdleCheck is pgxpool's own health-check period for the instance's pool:
// idle connections are closed by idleCloser, so the pool's check is left
// only its rarer duties (connection lifetime).
const dbIdleCheck = time.Hour

// idleCloser closes the instance's database connections once none has been
// used for idle, so an idle instance holds no backend on the customers'
// server. pgxpool closes idle connections too, but from a timer that fires
// every HealthCheckPeriod whether or not the pool holds any connection: an
// idle instance woke every 2.5 s for nothing. Measured over 60 idle
// runtimes on `make run` (schedstat of every thread, 30 s): 4.5 context
// switches and 0.33 ms of CPU a second each — two thirds of a core at 2,000
// instances. This timer is armed by a connection's release and stops once
// it has closed them, so an instance nobody uses does not wake for its
// database at all.
type idleCloser struct {
	idle time.Duration
	pool *pgxpool.Pool // set once the pool exists, before any release

	mu      sync.Mutex
	timer   *time.Timer
	armed   bool
	last    time.Time // the last release
	stopped bool
	// held keeps the connections of a warm runtime open until release:
	// connecting is what a warm runtime saves its customer.
	held bool
}

// TraceRelease is pgxpool's release tracer (openDB), called as a
// connection goes back to the pool: it (re)arms the timer.
func (c *idleCloser) TraceRelease(*pgxpool.Pool, pgxpool.TraceReleaseData) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = time.Now()
	if c.armed || c.stopped {
		return
	}
	c.armed = true
	if c.timer == nil {
		c.timer = time.AfterFunc(c.idle, c.fire)
	} else {
		c.timer.Reset(c.idle)
	}
}

// TraceQueryStart and TraceQueryEnd make idleCloser a pgx.QueryTracer,
// the type of ConnConfig.Tracer, through which pgxpool finds a release
// tracer. They do nothing.
func (c *idleCloser) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (c *idleCloser) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// fire closes the idle connections if none was released for idle, and
// waits the rest of idle otherwise.
func (c *idleCloser) fire() {
	c.mu.Lock()
	if c.stopped || c.held {
		c.armed = false
		c.mu.Unlock()
		return
	}
	if wait := c.idle - time.Since(c.last); wait > 0 {
		c.timer.Reset(wait)
		c.mu.Unlock()
		return
	}
	c.armed = false
	c.mu.Unlock()
	// Taking the idle connections is the platform's housekeeping, not the
	// instance's activity (the token of /health must not move for it).
	ctx, cancel := context.WithTimeout(observe.Mark(context.Background()), time.Second)
	defer cancel()
	for _, conn := range c.pool.AcquireAllIdle(ctx) {
		_ = conn.Hijack().Close(ctx)
	}
}

// release ends a hold: the connections close after idle unless used.
func (c *idleCloser) release() {
	c.mu.Lock()
	c.held = false
	c.mu.Unlock()
	c.TraceRelease(nil, pgxpool.TraceReleaseData{})
}

// stop ends the timer; the pool's Close closes what is left.
func (c *idleCloser) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.timer != nil {
		c.timer.Stop()
	}
}

// customerDB is the instance's pool on the customer's database with what
// watches it: /health's check (dbHealth), the activity token and the idle
// timer. A warm runtime opens it before its customer is known (WarmUp) and
// hands it to the customer's instance (adopt).
type customerDB struct {
	pool  *pgxpool.Pool
	check *dbHealth
	act   *activity
	idle  *idleCloser
	// target is the server and database the pool connects to, with the
	// user and password left out (sameTarget); login replaces those of
	// the URL the pool was opened with, for connections opened after a
	// claim set a new password (adopt).
	target *pgx.ConnConfig
	login  atomic.Pointer[login]
}

type login struct{ user, password string }

// close stops the idle timer and closes the pool.
func (db *customerDB) close() { db.idle.stop(); db.pool.Close() }

// openDB opens the instance's pool on the customer's database: at most
// maxDBConns connections, none kept open while unused for Options.DBIdle
// (idleCloser), /health's check (dbHealth) and the activity token. A held
// pool (a warm runtime's) keeps its connections until release.
func openDB(ctx context.Context, url string, opts Options, held bool) (*customerDB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, errors.New("parse database_url: invalid connection string")
	}
	db := &customerDB{target: cfg.ConnConfig.Copy()}
	// Named in pg_stat_activity and the server's connection log, beside
	// the workspace service's "clawdbot-workspace".
	cfg.ConnConfig.RuntimeParams["application_name"] = "clawdbot-runtime"
	cfg.MaxConns = maxDBConns
	cfg.MinConns = 0
	db.idle = &idleCloser{idle: cmp.Or(opts.DBIdle, dbIdle), held: held}
	cfg.MaxConnIdleTime = db.idle.idle
	if held {
		// A pool entry may wait hours for its customer; idleCloser closes
		// idle connections once it is released, this would at the next
		// hourly check.
		cfg.MaxConnIdleTime = 0
	}
	cfg.HealthCheckPeriod = dbIdleCheck
	// The timer is armed from the release tracer, which pgxpool calls on
	// the releasing goroutine, and not from AfterRelease: with an
	// AfterRelease hook pgxpool hands a released connection back to the
	// pool on a goroutine of its own, so an acquire right after a release
	// (the schema check, then the plan, at every start; a chat turn's
	// queries) often found none idle and opened another: two backend
	// starts per instance start where one does (counted with
	// log_connections: 200 runtime connections for 100 signups).
	cfg.ConnConfig.Tracer = db.idle
	db.check = &dbHealth{maxAge: cmp.Or(opts.DBHealthMaxAge, dbHealthMaxAge)}
	cfg.AfterConnect = db.check.afterConnect
	cfg.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
		if l := db.login.Load(); l != nil {
			cc.User, cc.Password = l.user, l.password
		}
		return nil
	}
	if db.act, err = newActivity(); err != nil {
		return nil, err
	}
	cfg.PrepareConn = db.act.prepareConn
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("open customer database: %w", err)
	}
	db.check.pool = db.pool
	db.idle.pool = db.pool
	return db, nil
}

// adopt makes a warm pool the customer's, whose database URL is url: new
// connections log in with its user and password, and idle connections
// close again. It reports false, changing nothing, when url names another
// server or database than the pool's.
func (db *customerDB) adopt(url string) (bool, error) {
	cc, err := pgx.ParseConfig(url)
	if err != nil {
		return false, errors.New("parse database_url: invalid connection string")
	}
	if !sameTarget(db.target, cc) {
		return false, nil
	}
	db.login.Store(&login{user: cc.User, password: cc.Password})
	db.idle.release()
	return true, nil
}

// sameTarget reports whether a and b reach the same database on the same
// server the same way, whoever logs in.
func sameTarget(a, b *pgx.ConnConfig) bool {
	return a.Host == b.Host && a.Port == b.Port && a.Database == b.Database &&
		(a.TLSConfig == nil) == (b.TLSConfig == nil) && maps.Equal(a.RuntimeParams, b.RuntimeParams)
}
