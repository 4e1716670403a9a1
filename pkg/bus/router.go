package bus

import (
	"context"
	"fmt"
	"sort"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Router dispatches a consumer's messages by subject to typed handlers.
type Router struct {
	handlers map[string]func(ctx context.Context, data []byte) error
}

// NewRouter returns an empty router.
func NewRouter() *Router {
	return &Router{handlers: map[string]func(context.Context, []byte) error{}}
}

// Handle registers h for subject. The payload is decoded into a fresh T; a
// payload that does not decode is poison and is dead-lettered.
func Handle[T any, PT interface {
	*T
	proto.Message
}](r *Router, subject string, h func(ctx context.Context, msg PT) error) {
	if _, dup := r.handlers[subject]; dup {
		panic(fmt.Sprintf("bus: two handlers for %s", subject))
	}
	r.handlers[subject] = func(ctx context.Context, data []byte) error {
		msg := PT(new(T))
		if err := Decode(data, msg); err != nil {
			return Permanent(fmt.Errorf("decode %s: %w", subject, err))
		}
		return h(ctx, msg)
	}
}

// Dispatch runs the handler of subject on a payload as the consumer would,
// without a broker: for tests of a service's handlers and for tools. The
// delivery the handler sees is the one in ctx, if any.
func (r *Router) Dispatch(ctx context.Context, subject string, msg proto.Message) error {
	h, ok := r.handlers[subject]
	if !ok {
		return fmt.Errorf("bus: no handler for %s", subject)
	}
	data, err := protojson.Marshal(msg)
	if err != nil {
		return err
	}
	return h(ctx, data)
}

// Subjects lists the registered subjects, sorted: the consumer's filter.
func (r *Router) Subjects() []string {
	out := make([]string, 0, len(r.handlers))
	for s := range r.handlers {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Delivery describes the message a handler is working on.
type Delivery struct {
	Subject  string
	Sequence uint64
	// Attempt is the delivery count, 1 on the first delivery.
	Attempt int
	// MaxDeliver is the consumer's delivery limit.
	MaxDeliver int
	Headers    map[string][]string
	// Data is the payload as delivered (protojson), for handlers that store
	// the message rather than encode it again.
	Data []byte
}

// Last reports whether the message will not be delivered again if this
// delivery fails: a handler that answers someone must answer now.
func (d Delivery) Last() bool { return d.MaxDeliver > 0 && d.Attempt >= d.MaxDeliver }

type deliveryKey struct{}

// DeliveryFrom returns the delivery of the message being handled, if any.
func DeliveryFrom(ctx context.Context) (Delivery, bool) {
	d, ok := ctx.Value(deliveryKey{}).(Delivery)
	return d, ok
}

func withDelivery(ctx context.Context, msg jetstream.Msg, meta *jetstream.MsgMetadata, maxDeliver int) context.Context {
	d := Delivery{Subject: msg.Subject(), Headers: msg.Headers(), MaxDeliver: maxDeliver, Data: msg.Data()}
	if meta != nil {
		d.Sequence = meta.Sequence.Stream
		d.Attempt = int(meta.NumDelivered)
	}
	return context.WithValue(ctx, deliveryKey{}, d)
}
