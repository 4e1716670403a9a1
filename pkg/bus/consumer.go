package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"clawdbot.cloud/pkg/retry"
	"clawdbot.cloud/proto/subjects"
)

// ConsumerConfig configures a durable pull consumer on the event stream.
type ConsumerConfig struct {
	// Name of the durable consumer; replicas of a service share it.
	Name string
	// MaxDeliver is how many deliveries a message gets before it is
	// dead-lettered. Default DefaultMaxDeliver.
	MaxDeliver int
	// AckWait is how long the server waits for an ack before redelivering.
	// Handlers running longer send InProgress automatically. Default 30s.
	AckWait time.Duration
	// MaxAckPending bounds unacknowledged messages. Default 64.
	MaxAckPending int
	// Workers is how many handlers run at once. Default 8.
	Workers int
	// RetryBase and RetryMax shape the NakWithDelay backoff. Defaults 200ms, 30s.
	RetryBase, RetryMax time.Duration
	// HandlerTimeout bounds one handler run. Default 2m.
	HandlerTimeout time.Duration
	// ShutdownGrace is how long in-flight handlers may finish after the
	// context ends before their contexts are cancelled. Default 10s.
	ShutdownGrace time.Duration
	// Filter, when set, is the consumer's one filter subject (wildcards
	// allowed) instead of the router's subjects, which it must cover. The
	// consumer is then created through the API subject that names the
	// filter, so the server's permissions can pin what it reads
	// (pkg/busauth). A message under Filter without a handler is
	// dead-lettered.
	Filter string
	// DeliverNew starts a new consumer at new messages instead of the whole
	// history (for followers that only care about the present).
	DeliverNew bool
}

// DefaultMaxDeliver is the delivery budget of a message whose handler
// keeps failing with a retryable error: with the default backoff (200 ms
// doubling to 30 s) its deliveries span about 140 s, longer than the
// outages the platform must ride out without losing a message — a Postgres
// crash and WAL recovery took 25–45 s in the chaos run of clawctl, and a
// managed database's failover takes up to a minute or two. With 8
// deliveries (25 s) a signup that arrived during a Postgres restart was
// dead-lettered by the coordinator: a paying customer's instance never
// made.
const DefaultMaxDeliver = 12

func (c *ConsumerConfig) defaults() {
	if c.MaxDeliver == 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.AckWait == 0 {
		c.AckWait = 30 * time.Second
	}
	if c.MaxAckPending == 0 {
		c.MaxAckPending = 64
	}
	if c.Workers == 0 {
		c.Workers = 8
	}
	if c.RetryBase == 0 {
		c.RetryBase = 200 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.HandlerTimeout == 0 {
		c.HandlerTimeout = 2 * time.Minute
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 10 * time.Second
	}
}

// Run creates (or updates) the durable consumer and handles its messages
// until ctx ends. Then it stops pulling, lets in-flight handlers finish
// within ShutdownGrace, and returns nil.
func (b *Bus) Run(ctx context.Context, cfg ConsumerConfig, r *Router) error {
	cfg.defaults()
	if cfg.Name == "" {
		return errors.New("bus: consumer needs a name")
	}
	deliver := jetstream.DeliverAllPolicy
	if cfg.DeliverNew {
		deliver = jetstream.DeliverNewPolicy
	}
	ccfg := jetstream.ConsumerConfig{
		Durable:        cfg.Name,
		FilterSubjects: r.Subjects(),
		AckPolicy:      jetstream.AckExplicitPolicy,
		DeliverPolicy:  deliver,
		AckWait:        cfg.AckWait,
		MaxDeliver:     cfg.MaxDeliver,
		MaxAckPending:  cfg.MaxAckPending,
	}
	if cfg.Filter != "" {
		for _, s := range ccfg.FilterSubjects {
			if !subjectMatches(cfg.Filter, s) {
				return fmt.Errorf("bus: consumer %s: filter %s does not cover %s", cfg.Name, cfg.Filter, s)
			}
		}
		ccfg.FilterSubjects, ccfg.FilterSubject = nil, cfg.Filter
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, subjects.Stream, ccfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started
		}
		return fmt.Errorf("create consumer %s: %w", cfg.Name, err)
	}

	// Handlers outlive ctx by up to ShutdownGrace so in-flight work finishes.
	hctx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	work := make(chan jetstream.Msg)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for msg := range work {
				b.handle(hctx, cfg, r, msg)
			}
		}()
	}

	cc, err := cons.Consume(func(msg jetstream.Msg) {
		select {
		case work <- msg:
		case <-ctx.Done():
			// Shutting down before a worker took it: Nak so another replica
			// (or the next run) gets it at once instead of after AckWait.
			_ = msg.Nak()
		}
	}, jetstream.PullMaxMessages(cfg.Workers), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if !errors.Is(err, jetstream.ErrNoHeartbeat) {
			b.log.Debug("consume", "consumer", cfg.Name, "err", err)
		}
	}))
	if err != nil {
		close(work)
		wg.Wait()
		return fmt.Errorf("consume %s: %w", cfg.Name, err)
	}
	<-ctx.Done()
	cc.Stop()
	<-cc.Closed()
	close(work)

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(cfg.ShutdownGrace):
		b.log.Warn("handlers still running at shutdown; cancelling", "consumer", cfg.Name)
		cancelHandlers()
		<-done
	}
	return nil
}

// subjectMatches reports whether the NATS subject pattern matches the
// literal subject ('*' one token, '>' the rest).
func subjectMatches(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, tok := range p {
		switch {
		case tok == ">":
			return len(s) > i
		case i >= len(s):
			return false
		case tok != "*" && tok != s[i]:
			return false
		}
	}
	return len(p) == len(s)
}

// handle runs one message through its handler and maps the result onto the
// JetStream ack vocabulary.
func (b *Bus) handle(ctx context.Context, cfg ConsumerConfig, r *Router, msg jetstream.Msg) {
	subject := msg.Subject()
	meta, _ := msg.Metadata()
	attempt := 1
	if meta != nil {
		attempt = int(meta.NumDelivered)
	}
	h, ok := r.handlers[subject]
	if !ok {
		b.deadLetter(ctx, cfg, msg, meta, "no handler for subject")
		return
	}
	b.m.inFlight.WithLabelValues(cfg.Name).Inc()
	defer b.m.inFlight.WithLabelValues(cfg.Name).Dec()

	sctx, span := b.startConsume(ctx, cfg.Name, subject, msg.Headers(), attempt)
	hctx, cancel := context.WithTimeout(withDelivery(sctx, msg, meta, cfg.MaxDeliver), cfg.HandlerTimeout)
	stopProgress := keepInProgress(msg, cfg.AckWait)
	start := time.Now()
	err := h(hctx, msg.Data())
	stopProgress()
	cancel()
	b.m.duration.WithLabelValues(cfg.Name, subject).Observe(time.Since(start).Seconds())
	defer func() { endSpan(span, err, outcome(err, attempt, cfg.MaxDeliver)) }()
	ctx = sctx // the dead letter and its logs belong to the handler's trace

	log := b.log.With("consumer", cfg.Name, "subject", subject, "attempt", attempt,
		"saga_id", msg.Headers().Get(HeaderSagaID), "customer_id", msg.Headers().Get(HeaderCustomerID))
	switch {
	case err == nil:
		// Ack: the message is done; it is never delivered to this consumer again.
		if aerr := msg.Ack(); aerr != nil {
			log.Warn("ack failed; message will be redelivered", "err", aerr)
		}
		b.m.handled.WithLabelValues(cfg.Name, subject, "ack").Inc()
	case IsPermanent(err):
		log.Error("handler failed permanently", "err", err)
		b.deadLetter(ctx, cfg, msg, meta, err.Error())
	case attempt >= cfg.MaxDeliver:
		log.Error("handler failed on its last delivery", "err", err)
		b.deadLetter(ctx, cfg, msg, meta, fmt.Sprintf("max deliveries (%d) reached: %v", cfg.MaxDeliver, err))
	default:
		delay, ok := retryDelay(err)
		if !ok {
			delay = retry.Backoff(attempt, cfg.RetryBase, cfg.RetryMax)
		}
		log.Warn("handler failed; will retry", "err", err, "delay", delay)
		// NakWithDelay: redeliver this message after delay, counting a delivery.
		if nerr := msg.NakWithDelay(delay); nerr != nil {
			log.Warn("nak failed; message will be redelivered after AckWait", "err", nerr)
		}
		b.m.handled.WithLabelValues(cfg.Name, subject, "retry").Inc()
	}
}

// outcome names what becomes of a delivery that ended with err, for its span.
func outcome(err error, attempt, maxDeliver int) string {
	switch {
	case err == nil:
		return "ack"
	case IsPermanent(err), attempt >= maxDeliver:
		return "dead-letter"
	}
	return "retry"
}

// keepInProgress tells the server the handler is still working (InProgress
// resets AckWait) until the returned stop is called.
func keepInProgress(msg jetstream.Msg, ackWait time.Duration) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(ackWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// deadLetter copies msg to the dead-letter stream with why it died, then
// terminates it (Term: never redelivered). If the copy cannot be stored the
// message is Nak'ed instead, so nothing is lost.
func (b *Bus) deadLetter(ctx context.Context, cfg ConsumerConfig, msg jetstream.Msg, meta *jetstream.MsgMetadata, reason string) {
	var seq uint64
	if meta != nil {
		seq = meta.Sequence.Stream
	}
	dl := nats.NewMsg(subjects.DeadLetterPrefix + cfg.Name)
	dl.Data = msg.Data()
	for k, v := range msg.Headers() {
		if k == nats.MsgIdHdr {
			continue
		}
		dl.Header[k] = v
	}
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	dl.Header.Set(HeaderDeadReason, reason)
	dl.Header.Set(HeaderDeadSubject, msg.Subject())
	dl.Header.Set(HeaderDeadSequence, strconv.FormatUint(seq, 10))
	dl.Header.Set(HeaderDeadConsumer, cfg.Name)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := b.js.PublishMsg(pctx, dl, jetstream.WithMsgID(fmt.Sprintf("dlq-%s-%d", cfg.Name, seq))); err != nil {
		b.log.Error("dead-letter publish failed; will retry", "consumer", cfg.Name, "subject", msg.Subject(), "err", err)
		_ = msg.NakWithDelay(cfg.RetryMax)
		b.m.handled.WithLabelValues(cfg.Name, msg.Subject(), "retry").Inc()
		return
	}
	if err := msg.TermWithReason(reason); err != nil {
		b.log.Warn("term failed", "consumer", cfg.Name, "err", err)
	}
	b.m.handled.WithLabelValues(cfg.Name, msg.Subject(), "term").Inc()
	b.m.deadLetters.WithLabelValues(cfg.Name, msg.Subject()).Inc()
}

// RunRestarting is Run for consumers that must outlive a bus outage (read
// models behind an HTTP API that keeps answering): when Run returns before
// ctx ends — NATS unreachable at boot, say — it is started again after a
// growing delay (500 ms up to 30 s), and the failure is logged. It returns
// when ctx ends.
func (b *Bus) RunRestarting(ctx context.Context, cfg ConsumerConfig, r *Router, log *slog.Logger) {
	for attempt := 1; ; attempt++ {
		err := b.Run(ctx, cfg, r)
		if ctx.Err() != nil {
			return
		}
		delay := retry.Backoff(attempt, 500*time.Millisecond, 30*time.Second)
		log.Error("consumer stopped; restarting", "consumer", cfg.Name, "err", err, "delay", delay)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
