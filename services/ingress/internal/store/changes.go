package store

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// changesChannel is the Postgres notification channel Apply notifies with
// the saga id of every signup it records progress for. Saga ids grant
// nothing (they are in every log line); the Checkout Session id, which
// does, is never sent.
const changesChannel = "ingress_provisioning"

// Changes tells waiters when a signup's progress may have changed: every
// ingress process listens on changesChannel over one connection of its own,
// so a change recorded by any replica wakes the waiters of all of them. A
// notification is a hint to read again, never the data: waiters re-read
// the row, and when the listening connection is lost every waiter is woken
// (it may have missed one) while it reconnects.
type Changes struct {
	db  *pgxpool.Pool
	log *slog.Logger

	mu      sync.Mutex
	waiters map[string]*waitSet
	// gen counts notifications; notified is, per saga, the gen of its
	// last one (entries older than notifiedKeep are pruned, and pruned
	// is the highest gen pruned); all is the gen at which every waiter
	// was last woken (the listener lost its connection). See Mark.
	gen, all, pruned uint64
	notified         map[string]notice
	prunedAt         time.Time
}

// notice is the gen and time of a saga's last notification.
type notice struct {
	gen uint64
	at  time.Time
}

// notifiedKeep is how long Changes remembers a saga's last notification
// for ChangedSince: far longer than a read takes.
const notifiedKeep = time.Minute

// waitSet is the subscriptions to one saga.
type waitSet struct{ chans map[chan struct{}]struct{} }

// NewChanges returns the fan-out for db; Run listens.
func NewChanges(db *pgxpool.Pool, log *slog.Logger) *Changes {
	return &Changes{db: db, log: log, waiters: map[string]*waitSet{}, notified: map[string]notice{}, prunedAt: time.Now()}
}

// Mark returns a mark to take before a read, for ChangedSince.
func (c *Changes) Mark() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// ChangedSince reports whether the progress of sagaID may have changed
// since mark was taken: a notification for it (or a lost listener) came
// after. A waiter that read after taking the mark and then subscribed
// reads again only when this is true: any change its read did not see
// was committed after the read began, so its notification arrives after
// the mark, before the subscription (seen here) or after it (a wake).
// When the listener is down nothing arrives, as for any change then: the
// waiters' periodic re-read covers that.
func (c *Changes) ChangedSince(sagaID string, mark uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.all > mark {
		return true
	}
	if n, ok := c.notified[sagaID]; ok {
		return n.gen > mark
	}
	return c.pruned > mark // forgotten: assume it may have
}

// Subscribe returns a channel that receives (without blocking the sender:
// capacity one) when the progress of sagaID may have changed, and the
// function that ends the subscription. Subscribe before reading, so that a
// change between the read and the wait is not missed.
func (c *Changes) Subscribe(sagaID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	c.mu.Lock()
	set := c.waiters[sagaID]
	if set == nil {
		set = &waitSet{chans: map[chan struct{}]struct{}{}}
		c.waiters[sagaID] = set
	}
	set.chans[ch] = struct{}{}
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(set.chans, ch)
		if len(set.chans) == 0 && c.waiters[sagaID] == set {
			delete(c.waiters, sagaID)
		}
	}
}

// Waiting is how many subscriptions are open.
func (c *Changes) Waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, set := range c.waiters {
		n += len(set.chans)
	}
	return n
}

// wake signals the waiters of sagaID, or every waiter when sagaID is "",
// and records it for ChangedSince.
func (c *Changes) wake(sagaID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	now := time.Now()
	if sagaID == "" {
		c.all = c.gen
	} else {
		c.notified[sagaID] = notice{gen: c.gen, at: now}
	}
	if now.Sub(c.prunedAt) >= notifiedKeep {
		for id, n := range c.notified {
			if now.Sub(n.at) >= notifiedKeep {
				c.pruned = max(c.pruned, n.gen)
				delete(c.notified, id)
			}
		}
		c.prunedAt = now
	}
	signal := func(set *waitSet) {
		if set == nil {
			return
		}
		for ch := range set.chans {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
	if sagaID != "" {
		signal(c.waiters[sagaID])
		return
	}
	for _, set := range c.waiters {
		signal(set)
	}
}

// Run listens until ctx ends, reconnecting with backoff (1 s doubling to
// 30 s) when the connection fails.
func (c *Changes) Run(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		listened, err := c.listen(ctx)
		// Anything may have changed while nobody listened.
		c.wake("")
		if ctx.Err() != nil {
			return
		}
		if listened {
			backoff = time.Second
		}
		c.log.Warn("provisioning change listener lost its connection; waiting reads re-read every 5 s until it is back",
			"err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// listen holds one connection listening on changesChannel until it fails
// or ctx ends. It reports whether LISTEN succeeded.
func (c *Changes) listen(ctx context.Context) (bool, error) {
	// A connection of its own, not one of the pool's: it is held for as
	// long as the service runs.
	conn, err := pgx.ConnectConfig(ctx, c.db.Config().ConnConfig.Copy())
	if err != nil {
		return false, err
	}
	defer conn.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the connection is being dropped
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return false, err
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true, err
		}
		c.wake(n.Payload)
	}
}
