package store

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// ownerLock is the advisory lock key held by the one compute service that
// runs processes for this control plane ("railway" in ASCII).
const ownerLock int64 = 0x7261696c776179

func subFS() (fs.FS, error) { return fs.Sub(migrations, "migrations") }

// Lock makes this service the only owner of the instances until release is
// called (or its database session ends, as when the process dies). A second
// service started against the same database waits here rather than starting
// duplicate runtimes. It logs while it waits.
func (s *Store) Lock(ctx context.Context, log *slog.Logger) (release func(), err error) {
	_, release, err = s.lock(ctx, log)
	return release, err
}

// lock is Lock, also returning the connection whose session holds the lock.
func (s *Store) lock(ctx context.Context, log *slog.Logger) (_ *pgxpool.Conn, release func(), err error) {
	conn, err := s.db.Acquire(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("owner lock: %w", err)
	}
	for waited := false; ; waited = true {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, ownerLock).Scan(&got); err != nil {
			conn.Release()
			return nil, nil, fmt.Errorf("owner lock: %w", err)
		}
		if got {
			break
		}
		if !waited {
			log.Warn("another compute service owns the instances of this database; waiting for it to stop")
		}
		select {
		case <-ctx.Done():
			conn.Release()
			return nil, nil, fmt.Errorf("owner lock: %w", ctx.Err())
		case <-time.After(time.Second):
		}
	}
	return conn, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, ownerLock); err != nil {
			// The session's lock would outlive the connection in the pool.
			_ = conn.Conn().Close(ctx)
		}
		conn.Release()
	}, nil
}
