package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// report collects what one customer transaction did, for logs and metrics
// after it committed.
type report struct {
	started []*domain.Saga
	verdict []eventVerdict
	changes []domain.StateChange
	notices []domain.Notice
	timers  []string
	queued  bool
}

type eventVerdict struct {
	id, subject, status, reason string
}

// CustomerEvent records a customer.* event (msg on subject, read as e) and
// applies it, or keeps it pending while the customer is unknown or busy. A
// duplicate (known Stripe event id) changes nothing. The event is decoded
// once: it is stored as it came off the bus (encoded only when it did not
// come from the bus) and applied from e, not read back from the store.
func (a *App) CustomerEvent(ctx context.Context, subject string, msg proto.Message, e domain.Event) error {
	payload, err := eventPayload(ctx, subject, msg)
	if err != nil {
		return err
	}
	now := a.Now()
	var rep report
	dup := false
	err = a.Store.WithCustomer(ctx, e.CustomerID, now, func(q *store.CustomerTx) error {
		rep = report{}
		added, err := q.AddEvent(store.Event{ID: e.ID, CustomerID: e.CustomerID, Subject: subject, Created: e.Created, Payload: payload})
		if err != nil || !added {
			dup = !added
			return err
		}
		return a.reconcile(q, e.CustomerID, now, &rep, &e)
	})
	if err != nil {
		return err
	}
	log := a.Log.With("customer_id", e.CustomerID, "event_id", e.ID, "subject", subject)
	if dup {
		a.Metrics.events.WithLabelValues(subject, "duplicate").Inc()
		log.Info("event seen before; duplicate ignored")
		return nil
	}
	a.reported(log, &rep)
	return nil
}

// Reconcile brings customer id up to date: settles its finished saga,
// applies its pending events and fires its due timers.
func (a *App) Reconcile(ctx context.Context, id string) error {
	now := a.Now()
	var rep report
	err := a.Store.WithCustomer(ctx, id, now, func(q *store.CustomerTx) error {
		rep = report{}
		return a.reconcile(q, id, now, &rep, nil)
	})
	if err != nil {
		return err
	}
	a.reported(a.Log.With("customer_id", id), &rep)
	return nil
}

// eventPayload is msg as stored with the customer's events: the bytes the
// bus delivered when msg is the message being handled, else msg encoded.
func eventPayload(ctx context.Context, subject string, msg proto.Message) ([]byte, error) {
	if d, ok := bus.DeliveryFrom(ctx); ok && d.Subject == subject && d.Data != nil {
		return d.Data, nil
	}
	payload, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", subject, err)
	}
	return payload, nil
}

// reconcile is Reconcile inside the customer's transaction. fresh, when
// set, is the event just recorded, already decoded.
func (a *App) reconcile(q *store.CustomerTx, id string, now time.Time, rep *report, fresh *domain.Event) error {
	c, err := q.Customer(id)
	if err != nil {
		return err
	}
	changed := false
	apply := func(v domain.Verdict) error {
		if c == nil {
			return nil // an event ignored for a customer that stays unknown
		}
		changed = true
		return a.emit(q, c, v, now, rep)
	}
	for range 64 { // bounded: each round settles a saga or applies events
		if c != nil && c.ActiveSaga != "" {
			s, err := q.Saga(c.ActiveSaga)
			switch {
			case errors.Is(err, store.ErrNotFound):
				c.ActiveSaga, changed = "", true
			case err != nil:
				return err
			case !s.Status.Final():
				return a.saveIf(q, c, changed)
			default:
				if err := apply(c.Finished(s, now, a.Lifecycle)); err != nil {
					return err
				}
			}
		}
		evs, err := q.Pending(id)
		if err != nil {
			return err
		}
		for _, se := range evs {
			// What the event starts continues the trace it arrived in.
			q.ContinueTrace(se.TraceContext)
			e, err := pendingEvent(se, fresh)
			if err != nil {
				rep.verdict = append(rep.verdict, eventVerdict{se.ID, se.Subject, domain.EventIgnored, err.Error()})
				if err := q.Decide(se.ID, domain.EventIgnored, err.Error()); err != nil {
					return err
				}
				continue
			}
			next, v := domain.ApplyEvent(c, e, now, a.Lifecycle, a.Policy, func(id string) bool {
				ok, qerr := q.SagaExists(id)
				if qerr != nil {
					err = qerr
				}
				return ok
			})
			if err != nil {
				return err
			}
			if v.Status == domain.EventPending {
				continue // still unknown or busy; a later event may make it known
			}
			c = next
			rep.verdict = append(rep.verdict, eventVerdict{e.ID, e.Subject, v.Status, v.Reason})
			if err := q.Decide(e.ID, v.Status, v.Reason); err != nil {
				return err
			}
			if err := apply(v); err != nil {
				return err
			}
		}
		q.ContinueTrace("")
		if c == nil {
			return nil
		}
		if c.ActiveSaga != "" {
			return a.saveIf(q, c, changed)
		}
		before := [3]time.Time{c.GraceUntil, c.ArchiveAt, c.DeleteAt}
		v := c.FireTimers(now, a.Policy)
		if v.Status == "" {
			return a.saveIf(q, c, changed)
		}
		rep.timers = append(rep.timers, firedTimer(before, c))
		if err := apply(v); err != nil {
			return err
		}
		if c.ActiveSaga != "" {
			return a.saveIf(q, c, changed)
		}
	}
	return a.saveIf(q, c, changed)
}

func firedTimer(before [3]time.Time, c *domain.Customer) string {
	switch {
	case before[0] != c.GraceUntil:
		return "grace"
	case before[1] != c.ArchiveAt:
		return "archive"
	}
	return "delete"
}

func (a *App) saveIf(q *store.CustomerTx, c *domain.Customer, changed bool) error {
	if !changed || c == nil {
		return nil
	}
	return q.SaveCustomer(c)
}

// emit writes v's saga, state changes and notices for customer c.
func (a *App) emit(q *store.CustomerTx, c *domain.Customer, v domain.Verdict, now time.Time, rep *report) error {
	if v.Saga != nil {
		msgs, err := messagesFor(v.Saga, v.SagaOut)
		if err != nil {
			return err
		}
		created, err := q.CreateSaga(v.Saga, msgs)
		if err != nil {
			return err
		}
		if created {
			rep.started = append(rep.started, v.Saga)
			rep.queued = true
		}
	}
	var msgs []store.Message
	add := func(subject, msgID, sagaID string, m proto.Message) error {
		data, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			return fmt.Errorf("encode %s: %w", subject, err)
		}
		msgs = append(msgs, store.Message{SagaID: sagaID, CustomerID: c.ID, Subject: subject, MsgID: msgID, Payload: data})
		return nil
	}
	for _, ch := range v.Changes {
		if err := add(subjects.CustomerStateChanged, fmt.Sprintf("state-%s-%s-%s", c.ID, ch.To, ch.Key), ch.SagaID, &pb.CustomerStateChanged{
			CustomerId: c.ID, State: ch.To, PreviousState: ch.From, Plan: c.Plan, Cause: ch.Cause, SagaId: ch.SagaID, At: timestamppb.New(now),
		}); err != nil {
			return err
		}
	}
	for _, n := range v.Notices {
		if err := add(subjects.CustomerNotice, "notice-"+n.ID, "", &pb.CustomerNotice{
			NoticeId: n.ID, CustomerId: c.ID, Kind: n.Kind, Email: c.Email, Name: c.Name, InstanceUrl: c.InstanceURL,
			Plan: c.Plan, At: timestamppb.New(now), Details: n.Details,
		}); err != nil {
			return err
		}
	}
	rep.changes = append(rep.changes, v.Changes...)
	rep.notices = append(rep.notices, v.Notices...)
	if len(msgs) > 0 {
		rep.queued = true
	}
	return q.Outbox(msgs)
}

// reported logs and counts a committed customer transaction.
func (a *App) reported(log *slog.Logger, rep *report) {
	for _, v := range rep.verdict {
		a.Metrics.events.WithLabelValues(v.subject, v.status).Inc()
		log.Info("customer event", "event_id", v.id, "subject", v.subject, "outcome", v.status, "why", v.reason)
	}
	for _, t := range rep.timers {
		a.Metrics.timers.WithLabelValues(t).Inc()
		log.Info("timer fired", "timer", t)
	}
	for _, s := range rep.started {
		if s.Kind == domain.KindSignup {
			a.Metrics.started.Inc()
		}
		a.Metrics.lifecycleStarted.WithLabelValues(s.Kind).Inc()
		log.Info("saga started", "saga_id", s.ID, "kind", s.Kind, "plan", s.Plan)
	}
	for _, ch := range rep.changes {
		a.Metrics.transitions.WithLabelValues(ch.From, ch.To).Inc()
		log.Info("customer state changed", "from", ch.From, "to", ch.To, "cause", ch.Cause, "saga_id", ch.SagaID)
	}
	for _, n := range rep.notices {
		a.Metrics.notices.WithLabelValues(n.Kind).Inc()
	}
	if rep.queued {
		a.Notify()
	}
}
