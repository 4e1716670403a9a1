package app

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/saga/internal/domain"
	"clawdbot.cloud/services/saga/internal/store"
)

// customerEvents routes the customer.* lifecycle events to CustomerEvent.
func (a *App) customerEvents(r *bus.Router) {
	for _, subject := range []string{
		subjects.CustomerPlanChanged, subjects.CustomerTrialWillEnd, subjects.CustomerPaymentFailed,
		subjects.CustomerPaymentSucceeded, subjects.CustomerCanceled,
	} {
		registerLifecycle(r, subject, a)
	}
}

func registerLifecycle(r *bus.Router, subject string, a *App) {
	h := func(ctx context.Context, m proto.Message) error {
		e, err := toEvent(subject, m)
		if err != nil {
			return bus.Permanent(err)
		}
		return a.CustomerEvent(ctx, subject, m, e)
	}
	switch subject {
	case subjects.CustomerPlanChanged:
		bus.Handle(r, subject, func(ctx context.Context, m *pb.CustomerPlanChanged) error { return h(ctx, m) })
	case subjects.CustomerTrialWillEnd:
		bus.Handle(r, subject, func(ctx context.Context, m *pb.CustomerTrialWillEnd) error { return h(ctx, m) })
	case subjects.CustomerPaymentFailed:
		bus.Handle(r, subject, func(ctx context.Context, m *pb.CustomerPaymentFailed) error { return h(ctx, m) })
	case subjects.CustomerPaymentSucceeded:
		bus.Handle(r, subject, func(ctx context.Context, m *pb.CustomerPaymentSucceeded) error { return h(ctx, m) })
	case subjects.CustomerCanceled:
		bus.Handle(r, subject, func(ctx context.Context, m *pb.CustomerCanceled) error { return h(ctx, m) })
	}
}

// pendingEvent is the stored event se: fresh when it is the one just
// recorded (decoded already), else decoded from its payload.
func pendingEvent(se store.Event, fresh *domain.Event) (domain.Event, error) {
	if fresh != nil && fresh.ID == se.ID && fresh.Subject == se.Subject {
		return *fresh, nil
	}
	m := subjects.New(se.Subject)
	if m == nil {
		return domain.Event{}, fmt.Errorf("unknown subject %s", se.Subject)
	}
	if err := bus.Decode(se.Payload, m); err != nil {
		return domain.Event{}, fmt.Errorf("undecodable %s: %w", se.Subject, err)
	}
	return toEvent(se.Subject, m)
}

func ts(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// toEvent maps a customer.* message to the lifecycle machine's Event.
func toEvent(subject string, m proto.Message) (domain.Event, error) {
	var e domain.Event
	e.Subject = subject
	stripe := func(ref *pb.StripeRef, customer string) {
		e.ID, e.Created, e.SubscriptionID, e.CustomerID = ref.GetEventId(), ts(ref.GetCreated()), ref.GetSubscriptionId(), customer
	}
	switch m := m.(type) {
	case *pb.CustomerSignedUp:
		e.Kind = domain.SignedUp
		in := signupOf(m)
		e.ID, e.CustomerID, e.SubscriptionID, e.Created = m.GetStripeEventId(), m.GetCustomerId(), m.GetSubscriptionId(), ts(m.GetOccurredAt())
		if e.ID == "" {
			e.ID = in.SagaID
		}
		e.Plan, e.Signup = m.GetPlan(), &in
	case *pb.CustomerPlanChanged:
		e.Kind = domain.PlanChanged
		stripe(m.GetStripe(), m.GetCustomerId())
		e.Plan = m.GetPlan()
	case *pb.CustomerTrialWillEnd:
		e.Kind = domain.TrialWillEnd
		stripe(m.GetStripe(), m.GetCustomerId())
		if t := m.GetTrialEnd(); t != nil {
			e.Details = map[string]string{"trial_end": t.AsTime().UTC().Format(time.RFC3339)}
		}
	case *pb.CustomerPaymentFailed:
		e.Kind = domain.PaymentFailed
		stripe(m.GetStripe(), m.GetCustomerId())
		e.Details = map[string]string{"invoice_id": m.GetInvoiceId(), "attempt_count": strconv.Itoa(int(m.GetAttemptCount()))}
		if t := m.GetNextPaymentAttempt(); t != nil {
			e.Details["next_payment_attempt"] = t.AsTime().UTC().Format(time.RFC3339)
		}
	case *pb.CustomerPaymentSucceeded:
		e.Kind = domain.PaymentSucceeded
		stripe(m.GetStripe(), m.GetCustomerId())
	case *pb.CustomerCanceled:
		e.Kind = domain.Canceled
		stripe(m.GetStripe(), m.GetCustomerId())
	default:
		return e, fmt.Errorf("%s is not a customer lifecycle event", subject)
	}
	if e.ID == "" || e.CustomerID == "" {
		return e, fmt.Errorf("%s: stripe.event_id and customer_id are required", subject)
	}
	return e, nil
}

func signupOf(m *pb.CustomerSignedUp) domain.Signup {
	return domain.Signup{
		SagaID: names.SignupSagaID(m.GetCheckoutSessionId()), CustomerID: m.GetCustomerId(), CheckoutSessionID: m.GetCheckoutSessionId(),
		Plan: m.GetPlan(), Email: m.GetEmail(), Name: m.GetName(), Timezone: m.GetTimezone(),
	}
}

// Start starts the signup saga of in as a customer.signed_up would, unless
// the saga exists already.
func (a *App) Start(ctx context.Context, in domain.Signup) error {
	m := &pb.CustomerSignedUp{
		CheckoutSessionId: in.CheckoutSessionID, CustomerId: in.CustomerID, Plan: in.Plan,
		Email: in.Email, Name: in.Name, Timezone: in.Timezone, SagaId: in.SagaID,
	}
	e, err := toEvent(subjects.CustomerSignedUp, m)
	if err != nil {
		return err
	}
	return a.CustomerEvent(ctx, subjects.CustomerSignedUp, m, e)
}
