package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrLockLost is the cause of the context LockWatched cancels when the
// session holding the instances' lock is gone.
var ErrLockLost = errors.New("lost the instances' lock (its database session ended)")

// lockCheckEvery is how often LockWatched checks that the lock is still
// held. A lost lock can be taken by the standby once Postgres is back; the
// owner must have stopped by then, so this stays well under the standby's
// one-second retry.
const lockCheckEvery = 250 * time.Millisecond

// LockWatched is Lock for an owner that must stop when the lock is gone:
// the advisory lock lives in one database session, and a restart of
// Postgres, a killed backend or a network cut ends that session and frees
// the lock silently, for a standby to take, while this process still
// believes it owns the instances (two compute services then start the same
// runtimes and kill each other's: found by the chaos run of clawctl). The
// returned context is ctx, cancelled with ErrLockLost as its cause as soon
// as a check on the lock's own session fails or finds the lock not held.
func (s *Store) LockWatched(ctx context.Context, log *slog.Logger) (context.Context, func(), error) {
	conn, release, err := s.lock(ctx, log)
	if err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithCancelCause(ctx)
	stopped := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(lockCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-stopped:
				return
			case <-wctx.Done():
				return
			case <-t.C:
			}
			qctx, qcancel := context.WithTimeout(wctx, 2*time.Second)
			var held bool
			err := conn.QueryRow(qctx, `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
				AND pid = pg_backend_pid() AND granted AND ((classid::bigint << 32) | objid::bigint) = $1)`, ownerLock).Scan(&held)
			qcancel()
			if wctx.Err() != nil {
				return
			}
			if err != nil || !held {
				log.Error("the instances' lock is lost; stopping so that the standby takes over", "err", err, "held", held)
				cancel(fmt.Errorf("%w: %v", ErrLockLost, err))
				return
			}
		}
	}()
	return wctx, func() {
		close(stopped)
		<-done
		cancel(nil)
		release()
	}, nil
}
