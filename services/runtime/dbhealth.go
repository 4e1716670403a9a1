package runtime

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"clawdbot.cloud/services/runtime/internal/observe"
)

// dbHealth is /health's database check. The health service probes every
// instance every 30 seconds, and an idle instance holds no connection
// (DBIdle), so pinging on every probe would start a backend on the
// customers' server each time: measured at ~30 ms of the server's CPU per
// backend (fork, authentication, exit), that is two cores' worth at 2,000
// idle instances. Instead a probe pings only when a connection is already
// open (no backend started), or when the database has not been seen to
// answer for maxAge; otherwise the last answer stands. The cost is that a
// database lost while the instance is idle is reported up to maxAge late; a
// request that needs the database still fails at once.
type dbHealth struct {
	pool   *pgxpool.Pool
	maxAge time.Duration
	// seenAt is when the database last answered (UnixNano): a connection
	// opened or a ping answered.
	seenAt atomic.Int64
}

// afterConnect is the pool's AfterConnect hook: a connection just opened is
// the database answering.
func (h *dbHealth) afterConnect(context.Context, *pgx.Conn) error {
	h.seen()
	return nil
}

func (h *dbHealth) seen() { h.seenAt.Store(time.Now().UnixNano()) }

// Ping reports whether the database answers, starting no backend for it
// while the last answer is younger than maxAge.
func (h *dbHealth) Ping(ctx context.Context) error {
	if h.pool.Stat().IdleConns() == 0 && time.Since(time.Unix(0, h.seenAt.Load())) < h.maxAge {
		return nil
	}
	if err := h.pool.Ping(ctx); err != nil {
		return err
	}
	h.seen()
	return nil
}

// activity is the token of Options.Activity in /health and /status: a
// random start id (a restarted instance is a changed one) and a count of
// the times the instance took a database connection for anything but the
// platform observing it (package observe). The health service reads
// /status, which needs a backend, only when the token moved since its last
// read, so an idle instance is observed without starting any.
type activity struct {
	start string
	n     atomic.Int64
}

func newActivity() (*activity, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &activity{start: hex.EncodeToString(b)}, nil
}

// prepareConn is the pool's PrepareConn hook, run at every acquire.
func (a *activity) prepareConn(ctx context.Context, _ *pgx.Conn) (bool, error) {
	if !observe.Marked(ctx) {
		a.n.Add(1)
	}
	return true, nil
}

// Token returns the current token.
func (a *activity) Token() string { return a.start + "." + strconv.FormatInt(a.n.Load(), 10) }
