// Package relay publishes the saga outbox: messages the coordinator wrote
// in the same transaction as the transition that caused them. Because the
// transition and its messages commit together, a crash between commit and
// publish loses nothing: the next relay (this process after restart, or
// another replica) publishes what is left. Message ids are deterministic, so
// a message published twice (crash after publish, before marking it sent) is
// dropped by the stream as a duplicate.
package relay

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/promreg"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga/internal/store"
)

// Outbox is the store side of the relay (store.Store).
type Outbox interface {
	Relay(ctx context.Context, limit int, now time.Time, publish func(context.Context, []store.Message) (int, error)) (int, error)
}

// Publisher publishes batches of messages (bus.Bus).
type Publisher interface {
	NewBatch() *bus.Batch
}

// batch is how many messages one transaction relays.
const batch = 100

// publishTimeout bounds the wait for the stream's answers to one batch.
const publishTimeout = 10 * time.Second

// Relay moves outbox messages onto the bus.
type Relay struct {
	out      Outbox
	pub      Publisher
	now      func() time.Time
	interval time.Duration
	log      *slog.Logger
	kick     chan struct{}
	lag      prometheus.Histogram
}

// New returns a relay that polls every interval and whenever kicked. Its
// metric is registered on reg (nil: none).
func New(out Outbox, pub Publisher, now func() time.Time, interval time.Duration, log *slog.Logger, reg prometheus.Registerer) (*Relay, error) {
	lag, err := promreg.Register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "claw_saga_outbox_lag_seconds",
		Help: "From a transition to the stream storing a message it queued (the outbox relay's line).",
		// 1 ms to ~6 min: a burst's line, a stream that was away.
		Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 15),
	}))
	if err != nil {
		return nil, fmt.Errorf("register relay metrics: %w", err)
	}
	return &Relay{out: out, pub: pub, now: now, interval: interval, log: log, kick: make(chan struct{}, 1), lag: lag}, nil
}

// Kick asks the relay to publish now. It never blocks.
func (r *Relay) Kick() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Run publishes until ctx ends, then makes one last bounded attempt so
// messages of the final transitions are not left for the next start.
func (r *Relay) Run(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := r.Flush(fctx); err != nil {
				r.log.Warn("outbox left unsent at shutdown; the next start publishes it", "err", err)
			}
			return nil
		case <-r.kick:
		case <-t.C:
		}
		if err := r.Flush(ctx); err != nil && ctx.Err() == nil {
			// Retried at the next tick.
			r.log.Warn("outbox relay", "err", err)
		}
	}
}

// Flush publishes every pending message, in order, until none is left or a
// publish fails.
func (r *Relay) Flush(ctx context.Context) error {
	for {
		n, err := r.out.Relay(ctx, batch, r.now(), r.publish)
		if err != nil {
			return err
		}
		if n < batch {
			return nil
		}
	}
}

// publish sends every message of one relayed batch before waiting for the
// stream's answers: one round trip for the batch instead of one per message,
// which under a burst of signups is the difference between the relay keeping
// up and every saga waiting in its line. It returns how many messages,
// counted from the first, the stream stored.
func (r *Relay) publish(ctx context.Context, ms []store.Message) (int, error) {
	b := r.pub.NewBatch()
	var stop error
	for _, m := range ms {
		msg := subjects.New(m.Subject)
		if msg == nil {
			stop = fmt.Errorf("outbox message %s: unknown subject %s", m.MsgID, m.Subject)
			break
		}
		if err := bus.Decode(m.Payload, msg); err != nil {
			stop = fmt.Errorf("outbox message %s: %w", m.MsgID, err)
			break
		}
		// The message continues the trace it was queued in, whenever and by
		// whichever replica it is published.
		env := bus.Envelope{MsgID: m.MsgID, SagaID: m.SagaID, CustomerID: m.CustomerID}
		if stop = b.Add(bus.WithTraceContext(ctx, m.TraceContext), m.Subject, msg, env); stop != nil {
			break
		}
	}
	wctx, cancel := context.WithTimeout(ctx, publishTimeout)
	defer cancel()
	n, err := b.Wait(wctx)
	if err == nil {
		err = stop
	}
	now := r.now()
	for _, m := range ms[:n] {
		if !m.CreatedAt.IsZero() {
			r.lag.Observe(max(now.Sub(m.CreatedAt), 0).Seconds())
		}
	}
	return n, err
}
