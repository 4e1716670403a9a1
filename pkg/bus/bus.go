package bus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	neturl "net/url"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/proto/subjects"
)

// Header names carried by every message the platform publishes.
const (
	HeaderEventType     = "Claw-Event-Type"
	HeaderSchemaVersion = "Claw-Schema-Version"
	HeaderSagaID        = "Claw-Saga-Id"
	HeaderCustomerID    = "Claw-Customer-Id"
	HeaderStripeEventID = "Claw-Stripe-Event-Id"
	HeaderService       = "Claw-Service"

	// Dead-letter headers describe why and where a message died.
	HeaderDeadReason   = "Claw-Dead-Reason"
	HeaderDeadSubject  = "Claw-Dead-Subject"
	HeaderDeadSequence = "Claw-Dead-Sequence"
	HeaderDeadConsumer = "Claw-Dead-Consumer"
)

// SchemaVersion is the version of the contracts in proto/clawdbot/v1.
const SchemaVersion = "1"

// Bus is a connection to NATS with JetStream. It is safe for concurrent use.
type Bus struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	log     *slog.Logger
	service string
	m       *metrics
	tp      trace.TracerProvider
}

// connectTimeout bounds each attempt to reach a server.
const connectTimeout = 10 * time.Second

// asyncAckTimeout bounds the wait for the stream's answer to a message sent
// in a Batch.
const asyncAckTimeout = 10 * time.Second

// Option configures how Connect reaches the server.
type Option func(*connectOptions)

type connectOptions struct {
	user, password, ca string
	tp                 trace.TracerProvider
}

// WithCredentials authenticates as user with password (empty user: no
// authentication). Replies then come to the user's own inbox prefix
// (InboxPrefix), the only inbox its permissions let it read.
func WithCredentials(user, password string) Option {
	return func(o *connectOptions) { o.user, o.password = user, password }
}

// WithTLSCA trusts the certificate authority in the PEM file at path for
// the server's certificate (a tls:// URL). Empty: the system's roots.
func WithTLSCA(path string) Option {
	return func(o *connectOptions) { o.ca = path }
}

// WithTracerProvider makes the bus record its spans with tp instead of the
// process's global provider (tests and benchmarks compare providers).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(o *connectOptions) { o.tp = tp }
}

// InboxPrefix is the prefix of user's reply subjects: _INBOX_<user>.
func InboxPrefix(user string) string { return "_INBOX_" + user }

// Connect dials url and returns a Bus for service. Metrics are registered on reg.
func Connect(ctx context.Context, url, service string, log *slog.Logger, reg prometheus.Registerer, opts ...Option) (*Bus, error) {
	var co connectOptions
	for _, o := range opts {
		o(&co)
	}
	nopts := []nats.Option{}
	if co.user != "" {
		nopts = append(nopts, nats.UserInfo(co.user, co.password), nats.CustomInboxPrefix(InboxPrefix(co.user)))
	}
	if co.ca != "" {
		nopts = append(nopts, nats.RootCAs(co.ca))
	}
	nc, err := nats.Connect(url, append(nopts,
		nats.Name(service),
		// Dial, TLS handshake and the server's bcrypt check of the
		// password together: nats.go's 2 s default is too little on a
		// loaded host (seen in CI under -race).
		nats.Timeout(connectTimeout),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { log.Info("nats reconnected") }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			// Permission violations arrive here: the server refused a
			// publish or subscribe this principal may not make.
			log.Warn("nats error", "err", err)
		}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redact(url), err)
	}
	// A Batch's message the stream never answers fails after
	// asyncAckTimeout instead of waiting forever.
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(asyncAckTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	m, err := newMetrics(reg)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Bus{nc: nc, js: js, log: log, service: service, m: m, tp: co.tp}, nil
}

// redact hides passwords in a list of server URLs (nats://user:pass@host,…).
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if p, err := neturl.Parse(strings.TrimSpace(u)); err == nil {
			parts[i] = p.Redacted()
		} else {
			parts[i] = "(unparsable URL)"
		}
	}
	return strings.Join(parts, ",")
}

// StreamOptions tunes the streams Setup creates.
type StreamOptions struct {
	// Replicas is the number of stream replicas (1 embedded, 3 in a cluster).
	Replicas int
	// EventsMaxAge and EventsMaxBytes bound the event stream: the oldest
	// messages go first once either is reached. Together they are the
	// replay horizon: how far back an operator can replay or re-drive.
	// Zero means DefaultEventsMaxAge / DefaultEventsMaxBytes.
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
	// DeadMaxAge and DeadMaxBytes bound the dead-letter stream likewise
	// (zero: DefaultDeadMaxAge / DefaultDeadMaxBytes).
	DeadMaxAge   time.Duration
	DeadMaxBytes int64
}

// Retention defaults. The event stream keeps 90 days: far longer than any
// saga, lifecycle timer or consumer outage needs (the saga's own state, not
// the stream, carries the day-7 and day-30 timers), and enough history to
// replay a quarter's events into a new projection. 8 GiB holds about 20
// million messages of today's size (a signup writes about 15 of ~400
// bytes), so the age, not the size, is what normally trims it. Dead letters
// keep 90 days too, in 1 GiB: they wait for an operator, and an alert fires
// long before (deploy/prometheus/alerts.yml).
const (
	DefaultEventsMaxAge   = 90 * 24 * time.Hour
	DefaultEventsMaxBytes = 8 << 30
	DefaultDeadMaxAge     = 90 * 24 * time.Hour
	DefaultDeadMaxBytes   = 1 << 30
)

// Setup creates or updates the event stream and the dead-letter stream. It is
// idempotent and every service calls it at start.
func (b *Bus) Setup(ctx context.Context, opts StreamOptions) error {
	if opts.Replicas == 0 {
		opts.Replicas = 1
	}
	opts.EventsMaxAge = cmp.Or(opts.EventsMaxAge, DefaultEventsMaxAge)
	opts.EventsMaxBytes = cmp.Or(opts.EventsMaxBytes, DefaultEventsMaxBytes)
	opts.DeadMaxAge = cmp.Or(opts.DeadMaxAge, DefaultDeadMaxAge)
	opts.DeadMaxBytes = cmp.Or(opts.DeadMaxBytes, DefaultDeadMaxBytes)
	streams := []jetstream.StreamConfig{{
		Name:        subjects.Stream,
		Description: "Clawdbot Cloud domain events and commands (history kept for replay)",
		Subjects:    subjects.StreamSubjects,
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
		Replicas:    opts.Replicas,
		MaxAge:      opts.EventsMaxAge,
		MaxBytes:    opts.EventsMaxBytes,
		Discard:     jetstream.DiscardOld,
	}, {
		Name:        subjects.DeadLetterStream,
		Description: "Messages a consumer terminated or gave up on; inspect and re-drive",
		Subjects:    []string{subjects.DeadLetterPrefix + ">"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Duplicates:  2 * time.Minute,
		Replicas:    opts.Replicas,
		MaxAge:      opts.DeadMaxAge,
		MaxBytes:    opts.DeadMaxBytes,
		Discard:     jetstream.DiscardOld,
	}}
	for _, cfg := range streams {
		if err := b.ensureStream(ctx, cfg); err != nil {
			return err
		}
	}
	return nil
}

// AwaitStreams waits until the event and dead-letter streams exist, for a
// service whose principal may not create them (pkg/busauth: only the saga
// and the operator may); it polls every 250 ms until ctx ends.
func (b *Bus) AwaitStreams(ctx context.Context) error {
	for _, name := range []string{subjects.Stream, subjects.DeadLetterStream} {
		for {
			_, err := b.js.Stream(ctx, name)
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrStreamNotFound) && ctx.Err() == nil {
				b.log.Debug("waiting for stream", "stream", name, "err", err)
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("wait for stream %s (created by the saga or the operator): %w", name, ctx.Err())
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
	return nil
}

// ensureStream creates the stream, or updates it only when its settings
// differ. Every service calls Setup as it starts; updating an unchanged
// stream would be harmless but is a write the server must order against
// consumers being created at the same moment.
func (b *Bus) ensureStream(ctx context.Context, cfg jetstream.StreamConfig) error {
	s, err := b.js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := b.js.CreateStream(ctx, cfg); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("create stream %s: %w", cfg.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("stream %s: %w", cfg.Name, err)
	}
	have := s.CachedInfo().Config
	if slices.Equal(have.Subjects, cfg.Subjects) && have.Retention == cfg.Retention && have.Storage == cfg.Storage &&
		have.Duplicates == cfg.Duplicates && have.Replicas == cfg.Replicas && have.Description == cfg.Description &&
		have.MaxAge == cfg.MaxAge && have.MaxBytes == cfg.MaxBytes && have.Discard == cfg.Discard {
		return nil
	}
	if _, err := b.js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("update stream %s: %w", cfg.Name, err)
	}
	return nil
}

// JetStream exposes the underlying JetStream context for tools and tests.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

// Conn exposes the underlying NATS connection.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// Ready reports whether the connection to NATS is up.
func (b *Bus) Ready() error {
	if !b.nc.IsConnected() {
		return errors.New("nats: not connected")
	}
	return nil
}

// Close drains the connection: pending publishes are flushed and
// subscriptions finish before it closes.
func (b *Bus) Close() {
	if err := b.nc.Drain(); err != nil {
		b.nc.Close()
	}
}

// Envelope carries a message's identity and correlation ids.
type Envelope struct {
	// MsgID is the deterministic Nats-Msg-Id: the same logical message always
	// has the same id, so a redelivered handler republishes harmlessly.
	MsgID         string
	SagaID        string
	CustomerID    string
	StripeEventID string
}

// Publish encodes msg as protojson and publishes it on subject, waiting for
// the stream's acknowledgement. duplicate reports that the stream had already
// stored a message with the same id. The message carries the trace context
// of a producer span started under ctx (see HeaderTraceParent).
func (b *Bus) Publish(ctx context.Context, subject string, msg proto.Message, env Envelope) (duplicate bool, err error) {
	m, err := b.message(subject, msg, env)
	if err != nil {
		return false, err
	}
	ctx, span := b.startPublish(ctx, subject, env.MsgID, m.Header)
	ack, err := b.js.PublishMsg(ctx, m, jetstream.WithMsgID(env.MsgID))
	return b.published(subject, span, ack, err)
}

// message encodes msg for subject with the platform's headers.
func (b *Bus) message(subject string, msg proto.Message, env Envelope) (*nats.Msg, error) {
	if env.MsgID == "" {
		return nil, fmt.Errorf("publish %s: empty message id", subject)
	}
	want := subjects.New(subject)
	if want == nil || want.ProtoReflect().Descriptor() != msg.ProtoReflect().Descriptor() {
		return nil, fmt.Errorf("publish %s: message %s does not belong on this subject", subject, msg.ProtoReflect().Descriptor().FullName())
	}
	data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("publish %s: encode: %w", subject, err)
	}
	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(HeaderEventType, string(msg.ProtoReflect().Descriptor().FullName()))
	m.Header.Set(HeaderSchemaVersion, SchemaVersion)
	m.Header.Set(HeaderService, b.service)
	setIf(m.Header, HeaderSagaID, env.SagaID)
	setIf(m.Header, HeaderCustomerID, env.CustomerID)
	setIf(m.Header, HeaderStripeEventID, env.StripeEventID)
	return m, nil
}

// published counts and ends the span of a publish the stream answered with
// ack or err.
func (b *Bus) published(subject string, span trace.Span, ack *jetstream.PubAck, err error) (duplicate bool, _ error) {
	if err != nil {
		b.m.published.WithLabelValues(subject, "error").Inc()
		err = fmt.Errorf("publish %s: %w", subject, err)
		endSpan(span, err, "error")
		return false, err
	}
	result := "stored"
	if ack.Duplicate {
		result = "duplicate"
	}
	b.m.published.WithLabelValues(subject, result).Inc()
	endSpan(span, nil, result)
	return ack.Duplicate, nil
}

// A Batch publishes messages without waiting for each one's acknowledgement
// before sending the next: Add sends, Wait collects the acknowledgements, so
// a batch costs one round trip to the stream instead of one per message.
// The messages go out on one connection in the order they were added and
// the stream stores them in that order; only a message the client sends
// again (the stream had no leader for a moment) can land after later ones,
// which consumers must bear anyway (they see redeliveries). A Batch is not
// safe for concurrent use; start one per batch with NewBatch.
type Batch struct {
	b       *Bus
	pending []pendingPublish
}

type pendingPublish struct {
	subject string
	span    trace.Span
	ack     jetstream.PubAckFuture
}

// NewBatch starts an empty batch.
func (b *Bus) NewBatch() *Batch { return &Batch{b: b} }

// Add encodes msg and sends it on subject, like Publish, without waiting for
// the stream. An error means it was not sent; what was added before it still
// is, and Wait reports on those.
func (bt *Batch) Add(ctx context.Context, subject string, msg proto.Message, env Envelope) error {
	m, err := bt.b.message(subject, msg, env)
	if err != nil {
		return err
	}
	_, span := bt.b.startPublish(ctx, subject, env.MsgID, m.Header)
	ack, err := bt.b.js.PublishMsgAsync(m, jetstream.WithMsgID(env.MsgID))
	if err != nil {
		_, err = bt.b.published(subject, span, nil, err)
		return err
	}
	bt.pending = append(bt.pending, pendingPublish{subject: subject, span: span, ack: ack})
	return nil
}

// Wait waits for the stream's answer to every message added, and returns how
// many of them, counted from the first, the stream stored (or already had)
// before the first one it did not, with that one's error. A message after a
// failed one may have been stored too; it is not counted, so a caller that
// sends the rest again (with the same message ids) loses nothing and the
// stream drops what it already has. When ctx ends first, the answers not yet
// in count as failed.
func (bt *Batch) Wait(ctx context.Context) (int, error) {
	stored := 0
	var first error
	for _, p := range bt.pending {
		var err error
		var ack *jetstream.PubAck
		select {
		case ack = <-p.ack.Ok():
		case err = <-p.ack.Err():
		case <-ctx.Done():
			err = ctx.Err()
		}
		if _, err = bt.b.published(p.subject, p.span, ack, err); err != nil && first == nil {
			first = err
		}
		if first == nil {
			stored++
		}
	}
	bt.pending = nil
	return stored, first
}

func setIf(h nats.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}

// Decode decodes a protojson payload, ignoring fields this build does not
// know (a newer producer may add fields).
func Decode(data []byte, dst proto.Message) error {
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, dst)
}
