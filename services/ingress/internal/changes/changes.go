// Package changes tells the provisioning reads waiting in any ingress
// process when a signup's progress may have changed. The projector that
// recorded the change publishes the saga id on a core NATS subject
// (subjects.IngressProgressChanged) once its statement has committed, and
// every ingress process subscribes to it and wakes its waiters.
//
// It was Postgres NOTIFY, sent by the projector's statement itself. NOTIFY
// takes a lock that is one for the whole server from the statement's
// pre-commit to the end of its commit, WAL flush included: the projector's
// workers, a dozen reports a signup, committed one at a time behind it in a
// burst of signups, and the listening backend spent the server's CPU on
// every notification. A transaction-pooling proxy (PgBouncer, Neon's pooled
// endpoint) does not deliver LISTEN at all.
//
// A notice is a hint to read again, never the data: a waiter re-reads the
// row. Core NATS delivers at most once, so every waiter is woken whenever a
// notice may have been missed: the connection was lost (a notice published
// meanwhile went nowhere) or the subscription dropped messages (a slow
// consumer); waiters also re-read every 5 s.
package changes

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"clawdbot.cloud/proto/subjects"
)

// Feed is one process's end of the notices: it publishes those of its
// projector and wakes its waiters on everyone's.
type Feed struct {
	nc  *nats.Conn
	log *slog.Logger

	mu      sync.Mutex
	waiters map[string]*waitSet
	// gen counts notices; notified is, per saga, the gen of its last one
	// (entries older than notifiedKeep are pruned, and pruned is the highest
	// gen pruned); all is the gen at which every waiter was last woken (a
	// notice may have been missed). See Mark.
	gen, all, pruned uint64
	notified         map[string]notice
	prunedAt         time.Time
}

// notice is the gen and time of a saga's last notice.
type notice struct {
	gen uint64
	at  time.Time
}

// notifiedKeep is how long a Feed remembers a saga's last notice for
// ChangedSince: far longer than a read takes.
const notifiedKeep = time.Minute

// checkEvery is how often Run looks for notices that may have been missed
// without a connection event (messages the subscription dropped).
const checkEvery = time.Second

// pendingLimit bounds the notices queued for this process's handler: far
// more than a burst produces (a dozen a signup), so only a stalled process
// drops any (and then wakes everyone).
const pendingLimit = 1 << 16

// waitSet is the subscriptions to one saga.
type waitSet struct{ chans map[chan struct{}]struct{} }

// New returns the feed of nc (nil: no bus, as in unit tests of the
// bookkeeping); Run subscribes.
func New(nc *nats.Conn, log *slog.Logger) *Feed {
	return &Feed{nc: nc, log: log, waiters: map[string]*waitSet{}, notified: map[string]notice{}, prunedAt: time.Now()}
}

// Notify tells every ingress process that the progress of sagaID may have
// changed. Call it after the change has committed. It never blocks on the
// network; a notice that cannot be sent is logged and left to the waiters'
// periodic re-read.
func (f *Feed) Notify(sagaID string) {
	if f.nc == nil || sagaID == "" {
		return
	}
	if err := f.nc.Publish(subjects.IngressProgressChanged, []byte(sagaID)); err != nil {
		f.log.Warn("cannot send a provisioning change notice; waiting reads see it at their next re-read",
			"saga_id", sagaID, "err", err)
	}
}

// Mark returns a mark to take before a read, for ChangedSince.
func (f *Feed) Mark() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.gen
}

// ChangedSince reports whether the progress of sagaID may have changed
// since mark was taken: a notice for it (or a possible miss) came after.
// A waiter that read after taking the mark and then subscribed reads again
// only when this is true: any change its read did not see was committed
// after the read began, and its notice is sent after that commit, so it
// arrives after the mark — before the subscription (seen here) or after it
// (a wake). A notice lost on the way wakes everyone (see Run).
func (f *Feed) ChangedSince(sagaID string, mark uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.all > mark {
		return true
	}
	if n, ok := f.notified[sagaID]; ok {
		return n.gen > mark
	}
	return f.pruned > mark // forgotten: assume it may have
}

// Subscribe returns a channel that receives (without blocking the sender:
// capacity one) when the progress of sagaID may have changed, and the
// function that ends the subscription. Subscribe before reading, so that a
// change between the read and the wait is not missed.
func (f *Feed) Subscribe(sagaID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	set := f.waiters[sagaID]
	if set == nil {
		set = &waitSet{chans: map[chan struct{}]struct{}{}}
		f.waiters[sagaID] = set
	}
	set.chans[ch] = struct{}{}
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(set.chans, ch)
		if len(set.chans) == 0 && f.waiters[sagaID] == set {
			delete(f.waiters, sagaID)
		}
	}
}

// Waiting is how many subscriptions are open.
func (f *Feed) Waiting() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, set := range f.waiters {
		n += len(set.chans)
	}
	return n
}

// wake signals the waiters of sagaID, or every waiter when sagaID is "",
// and records it for ChangedSince.
func (f *Feed) wake(sagaID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	now := time.Now()
	if sagaID == "" {
		f.all = f.gen
	} else {
		f.notified[sagaID] = notice{gen: f.gen, at: now}
	}
	if now.Sub(f.prunedAt) >= notifiedKeep {
		for id, n := range f.notified {
			if now.Sub(n.at) >= notifiedKeep {
				f.pruned = max(f.pruned, n.gen)
				delete(f.notified, id)
			}
		}
		f.prunedAt = now
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
		signal(f.waiters[sagaID])
		return
	}
	for _, set := range f.waiters {
		signal(set)
	}
}

// Run receives the notices of every ingress process until ctx ends. It
// wakes every waiter whenever one may have been missed: the connection
// went down or came back (core NATS keeps nothing for a subscriber that is
// away), or the subscription dropped notices. A subscription that cannot be
// made (the connection is down, the server refuses it) is retried with
// backoff (1 s doubling to 30 s); waits fall back to their periodic re-read
// meanwhile.
func (f *Feed) Run(ctx context.Context) {
	if f.nc == nil {
		<-ctx.Done()
		return
	}
	status := f.nc.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CONNECTED, nats.CLOSED)
	defer f.nc.RemoveStatusListener(status)
	var sub *nats.Subscription
	defer func() {
		if sub != nil {
			_ = sub.Unsubscribe()
		}
	}()
	var (
		dropped int
		backoff = checkEvery
		retryAt time.Time
	)
	t := time.NewTicker(checkEvery)
	defer t.Stop()
	for {
		if sub == nil && !time.Now().Before(retryAt) {
			var err error
			if sub, err = f.subscribe(); err != nil {
				f.log.Warn("cannot receive provisioning change notices; waiting reads re-read every 5 s until they can",
					"err", err, "retry_in", backoff)
				retryAt = time.Now().Add(backoff)
				backoff = min(2*backoff, 30*time.Second)
			} else {
				backoff = checkEvery
			}
			dropped = 0
			// Anything may have changed while nobody received notices.
			f.wake("")
		}
		select {
		case <-ctx.Done():
			return
		case <-status:
			f.wake("")
		case <-t.C:
			if sub == nil {
				continue
			}
			if n, err := sub.Dropped(); err == nil && n != dropped {
				dropped = n
				f.log.Warn("provisioning change notices dropped; waking every waiting read", "dropped", n)
				f.wake("")
			}
		}
	}
}

// subscribe subscribes to the notices and waits until the server has
// taken the subscription: one it refuses (permissions) is an error here,
// not a silent subscription that never receives anything.
func (f *Feed) subscribe() (*nats.Subscription, error) {
	sub, err := f.nc.Subscribe(subjects.IngressProgressChanged, func(m *nats.Msg) { f.wake(string(m.Data)) })
	if err != nil {
		return nil, err
	}
	err = sub.SetPendingLimits(pendingLimit, pendingLimit*256)
	if err == nil {
		// The server answers the subscription before the flush's ping.
		err = f.nc.FlushTimeout(5 * time.Second)
	}
	if err == nil {
		if lerr := f.nc.LastError(); errors.Is(lerr, nats.ErrPermissionViolation) && strings.Contains(lerr.Error(), subjects.IngressProgressChanged) {
			err = lerr
		}
	}
	if err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return sub, nil
}
