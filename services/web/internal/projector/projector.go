// Package projector follows the bus and keeps the web app's accounts
// current: who signed up (customer.signed_up), where their instance answers
// (saga.completed, compute.started), their lifecycle state
// (customer.state_changed) and their instance's health (instance.unhealthy,
// instance.recovered). Every handler is an idempotent upsert, so replaying
// the stream or receiving events out of order converges on the same rows.
package projector

import (
	"context"
	"errors"
	"time"

	"clawdbot.cloud/pkg/bus"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/web/internal/store"
)

// ConsumerName is the durable consumer the projector reads through; the
// replicas of the web app share it.
const ConsumerName = "web-accounts"

// Store is where accounts are kept: *store.Store.
type Store interface {
	SignedUp(ctx context.Context, a store.Account) error
	Provisioned(ctx context.Context, customerID, instanceURL string) error
	StateChanged(ctx context.Context, customerID, state, plan string, at time.Time) error
	InstanceURL(ctx context.Context, customerID, url string) error
	PlanChanged(ctx context.Context, customerID, plan string) error
	HealthChanged(ctx context.Context, customerID, health string, at time.Time) error
}

// Health values an account shows.
const (
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
)

// Router returns the routes of every subject the projector follows; now
// stamps reports that carry no time of their own.
func Router(st Store, now func() time.Time) *bus.Router {
	r := bus.NewRouter()
	bus.Handle(r, subjects.CustomerSignedUp, func(ctx context.Context, m *pb.CustomerSignedUp) error {
		if m.GetCustomerId() == "" || m.GetEmail() == "" {
			return bus.Permanent(errors.New("customer.signed_up without a customer or an email"))
		}
		return st.SignedUp(ctx, store.Account{
			CustomerID: m.GetCustomerId(), Email: m.GetEmail(), Name: m.GetName(), Plan: m.GetPlan(),
			SubscriptionID: m.GetSubscriptionId(), CheckoutSessionID: m.GetCheckoutSessionId(),
		})
	})
	bus.Handle(r, subjects.SagaCompleted, func(ctx context.Context, m *pb.SagaCompleted) error {
		if m.GetCustomerId() == "" || m.GetInstanceUrl() == "" {
			return nil // sagas without an instance (cancellation, archive) change no URL
		}
		return st.Provisioned(ctx, m.GetCustomerId(), m.GetInstanceUrl())
	})
	bus.Handle(r, subjects.ComputeStarted, func(ctx context.Context, m *pb.ComputeStarted) error {
		return st.InstanceURL(ctx, m.GetStep().GetCustomerId(), m.GetInstanceUrl())
	})
	// A plan change is done when the instance runs at the new plan's size
	// (a compensated change resizes back, and reports that too).
	bus.Handle(r, subjects.ComputeResized, func(ctx context.Context, m *pb.ComputeResized) error {
		return st.PlanChanged(ctx, m.GetStep().GetCustomerId(), m.GetPlan())
	})
	bus.Handle(r, subjects.CustomerStateChanged, func(ctx context.Context, m *pb.CustomerStateChanged) error {
		if m.GetCustomerId() == "" || m.GetState() == "" {
			return bus.Permanent(errors.New("customer.state_changed without a customer or a state"))
		}
		at := now()
		if m.GetAt().IsValid() {
			at = m.GetAt().AsTime()
		}
		return st.StateChanged(ctx, m.GetCustomerId(), m.GetState(), m.GetPlan(), at)
	})
	bus.Handle(r, subjects.InstanceUnhealthy, func(ctx context.Context, m *pb.InstanceUnhealthy) error {
		at := now()
		if m.GetSince().IsValid() {
			at = m.GetSince().AsTime()
		}
		return st.HealthChanged(ctx, m.GetCustomerId(), Unhealthy, at)
	})
	bus.Handle(r, subjects.InstanceRecovered, func(ctx context.Context, m *pb.InstanceRecovered) error {
		at := now()
		if m.GetAt().IsValid() {
			at = m.GetAt().AsTime()
		}
		return st.HealthChanged(ctx, m.GetCustomerId(), Healthy, at)
	})
	return r
}
