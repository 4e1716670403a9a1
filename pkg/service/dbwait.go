package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// dbWaitLimit bounds how long a starting service waits for its database.
// Postgres crash recovery took 25–50 s in the chaos run; a service that
// exited at once instead was restarted by its supervisor with a growing
// backoff and stayed down after the database was back.
const dbWaitLimit = 2 * time.Minute

// waitDB returns once db answers, retrying while the server is unreachable
// or not accepting connections yet (starting up, recovering, shutting
// down), for at most limit. It fails at once on an answer that waiting
// will not change: authentication, an unknown database or role.
func waitDB(ctx context.Context, db *pgxpool.Pool, limit time.Duration, log *slog.Logger) error {
	deadline := time.Now().Add(limit)
	delay := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := db.Ping(pctx)
		cancel()
		if err == nil {
			if attempt > 1 {
				log.Info("database answers", "attempts", attempt)
			}
			return nil
		}
		if !transientDBError(err) {
			return fmt.Errorf("database: %w", err)
		}
		if time.Now().Add(delay).After(deadline) {
			return fmt.Errorf("database: not answering after %v: %w", limit, err)
		}
		if attempt == 1 || attempt%10 == 0 {
			log.Warn("waiting for the database", "attempt", attempt, "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Second)
	}
}

// transientDBError reports whether err may go away by waiting: no answer
// from the server at all, or class 57 (operator intervention: the server is
// starting, recovering or shutting down) and class 08 (connection
// exception). Authentication (28), an unknown database (3D000) and the
// like are not.
func transientDBError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return len(pgErr.Code) == 5 && (pgErr.Code[:2] == "57" || pgErr.Code[:2] == "08")
	}
	return !errors.Is(err, context.Canceled)
}
