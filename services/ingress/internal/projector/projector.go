// Package projector follows signup sagas and customer state changes on the
// bus and keeps the ingress read model (store.Progress, store.CustomerState)
// current, so the provisioning API can answer
// without asking any other service. Every handler is an idempotent upsert:
// replaying the stream, or receiving events out of order, converges on the
// same rows.
package projector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/names"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
	"clawdbot.cloud/services/ingress/internal/store"
)

// ConsumerName is the durable consumer the projector reads through; the
// replicas of the ingress share it.
const ConsumerName = "ingress-projector"

// maxReason bounds a failure reason shown to the customer.
const maxReason = 500

// Applier records progress: *store.Store.
type Applier interface {
	Apply(ctx context.Context, p store.Progress) error
	ApplyCustomerState(ctx context.Context, cs store.CustomerState) error
}

// Notifier tells the reads waiting on a signup, in every ingress process,
// that its progress may have changed: *changes.Feed.
type Notifier interface {
	Notify(sagaID string)
}

// Projector maps saga events onto read-model progress.
type Projector struct {
	store  Applier
	notify Notifier
	now    func() time.Time
}

// New returns a Projector writing to st, telling n of each signup it
// recorded progress of, stamping steps with now.
func New(st Applier, n Notifier, now func() time.Time) *Projector {
	return &Projector{store: st, notify: n, now: now}
}

// Router returns the routes of every subject the projector follows.
func (p *Projector) Router() *bus.Router {
	r := bus.NewRouter()
	bus.Handle(r, subjects.SagaStepStarted, func(ctx context.Context, m *pb.SagaStepStarted) error {
		return p.step(ctx, m.GetStep(), m.GetCompensation(), store.StepStarted, store.Progress{})
	})
	bus.Handle(r, subjects.DatabaseCreated, func(ctx context.Context, m *pb.DatabaseCreated) error {
		return p.step(ctx, m.GetStep(), false, store.StepDone, store.Progress{})
	})
	bus.Handle(r, subjects.WorkspaceBuilt, func(ctx context.Context, m *pb.WorkspaceBuilt) error {
		return p.step(ctx, m.GetStep(), false, store.StepDone, store.Progress{APIKeyRef: m.GetApiKeyRef()})
	})
	bus.Handle(r, subjects.ComputePrepared, func(ctx context.Context, m *pb.ComputePrepared) error {
		return p.step(ctx, m.GetStep(), false, store.StepDone, store.Progress{})
	})
	bus.Handle(r, subjects.ComputeProvisioned, func(ctx context.Context, m *pb.ComputeProvisioned) error {
		return p.step(ctx, m.GetStep(), false, store.StepDone, store.Progress{InstanceURL: m.GetInstanceUrl()})
	})
	bus.Handle(r, subjects.InstanceReady, func(ctx context.Context, m *pb.InstanceReady) error {
		return p.step(ctx, m.GetStep(), false, store.StepDone, store.Progress{InstanceURL: m.GetInstanceUrl()})
	})
	// A step's failure is shown in the step list but does not fail the
	// signup: only the coordinator decides that (saga.compensated or
	// saga.failed, below). A failure report may be of an attempt the saga
	// has already given up on and re-sent — a step service that exhausted
	// its deliveries while Postgres was down, say — and the saga then
	// completes; projecting it as final told the customer "failed" for a
	// signup that became ready (found by clawctl chaos).
	for _, subj := range []string{subjects.DatabaseFailed, subjects.WorkspaceFailed, subjects.ComputeFailed, subjects.InstanceFailed} {
		bus.Handle(r, subj, func(ctx context.Context, m *pb.StepFailed) error {
			return p.step(ctx, m.GetStep(), false, store.StepFailed, store.Progress{})
		})
	}
	// Compensations: the undoing of a step is done.
	bus.Handle(r, subjects.DatabaseDeleted, func(ctx context.Context, m *pb.DatabaseDeleted) error {
		return p.step(ctx, m.GetStep(), true, store.StepDone, store.Progress{})
	})
	bus.Handle(r, subjects.WorkspaceDeleted, func(ctx context.Context, m *pb.WorkspaceDeleted) error {
		return p.step(ctx, m.GetStep(), true, store.StepDone, store.Progress{})
	})
	bus.Handle(r, subjects.ComputeDeleted, func(ctx context.Context, m *pb.ComputeDeleted) error {
		return p.step(ctx, m.GetStep(), true, store.StepDone, store.Progress{})
	})
	bus.Handle(r, subjects.SagaCompleted, func(ctx context.Context, m *pb.SagaCompleted) error {
		return p.apply(ctx, m.GetSagaId(), m.GetCustomerId(), store.Progress{
			CheckoutSessionID: m.GetCheckoutSessionId(),
			Status:            store.StatusReady, InstanceURL: m.GetInstanceUrl(), APIKeyRef: m.GetApiKeyRef(),
		})
	})
	bus.Handle(r, subjects.SagaCompensated, func(ctx context.Context, m *pb.SagaCompensated) error {
		return p.apply(ctx, m.GetSagaId(), m.GetCustomerId(), store.Progress{
			CheckoutSessionID: m.GetCheckoutSessionId(),
			Status:            store.StatusFailed, FailureReason: clip(m.GetFailedStep() + ": " + m.GetReason()),
		})
	})
	// The customer's lifecycle state, shown beside the provisioning status.
	bus.Handle(r, subjects.CustomerStateChanged, func(ctx context.Context, m *pb.CustomerStateChanged) error {
		return p.customerState(ctx, m)
	})
	// The compensation could not finish; for the customer the signup failed
	// all the same (operators are alerted elsewhere).
	bus.Handle(r, subjects.SagaFailed, func(ctx context.Context, m *pb.SagaFailed) error {
		return p.apply(ctx, m.GetSagaId(), m.GetCustomerId(), store.Progress{
			CheckoutSessionID: m.GetCheckoutSessionId(),
			Status:            store.StatusFailed, FailureReason: clip(m.GetFailedStep() + ": " + m.GetReason()),
		})
	})
	return r
}

// step records one step state of the saga st belongs to, with pr's other facts.
func (p *Projector) step(ctx context.Context, st *pb.Step, compensation bool, status string, pr store.Progress) error {
	name := st.GetName()
	if name == "" {
		// An older producer may leave the name out: the subject's domain is the step.
		if d, ok := bus.DeliveryFrom(ctx); ok {
			name, _, _ = strings.Cut(d.Subject, ".")
		}
	}
	var seq uint64
	if d, ok := bus.DeliveryFrom(ctx); ok {
		seq = d.Sequence
	}
	pr.Step = &store.Step{Name: name, Compensation: compensation, Status: status, Seq: seq, At: p.now().UTC()}
	return p.apply(ctx, st.GetSagaId(), st.GetCustomerId(), pr)
}

// apply records pr for sagaID when it is a signup saga; other sagas (plan
// changes, cancellations) have no provisioning page and are skipped. A
// session id the event names must be the one the saga id derives from: the
// row it creates is the page whose key that session's browser may reveal.
func (p *Projector) apply(ctx context.Context, sagaID, customerID string, pr store.Progress) error {
	if sagaID == "" {
		return bus.Permanent(errors.New("event without a saga id"))
	}
	if !IsSignupSaga(sagaID) {
		return nil
	}
	// Sagas started before saga ids were hashed are "signup-<session id>".
	if cs := pr.CheckoutSessionID; cs != "" && names.SignupSagaID(cs) != sagaID && names.SignupSagaPrefix+cs != sagaID {
		return bus.Permanent(fmt.Errorf("saga %s: its checkout session does not derive its id", sagaID))
	}
	pr.SagaID, pr.CustomerID, pr.At = sagaID, customerID, p.now().UTC()
	if err := p.store.Apply(ctx, pr); err != nil {
		return err
	}
	// Committed: the waiters may read it now. A change that turns out to
	// be none (a redelivery) only costs them a read.
	p.notify.Notify(sagaID)
	return nil
}

// customerState records a state change; reports arrive in any order and
// the latest (by the saga's time, then stream sequence) wins.
func (p *Projector) customerState(ctx context.Context, m *pb.CustomerStateChanged) error {
	if m.GetCustomerId() == "" || m.GetState() == "" {
		return bus.Permanent(errors.New("customer.state_changed without a customer or a state"))
	}
	at := p.now().UTC()
	if m.GetAt().IsValid() {
		at = m.GetAt().AsTime()
	}
	var seq uint64
	if d, ok := bus.DeliveryFrom(ctx); ok {
		seq = d.Sequence
	}
	return p.store.ApplyCustomerState(ctx, store.CustomerState{
		CustomerID: m.GetCustomerId(), State: clip(m.GetState()), PreviousState: clip(m.GetPreviousState()),
		Plan: clip(m.GetPlan()), Cause: clip(m.GetCause()), At: at, Seq: seq,
	})
}

// IsSignupSaga reports whether sagaID names a signup saga
// (names.SignupSagaID), the only sagas with a provisioning page.
func IsSignupSaga(sagaID string) bool {
	return strings.HasPrefix(sagaID, names.SignupSagaPrefix) && len(sagaID) > len(names.SignupSagaPrefix)
}

// clip bounds a reason shown to the customer to maxReason bytes.
func clip(s string) string {
	if len(s) <= maxReason {
		return s
	}
	// Cut on a rune boundary so the text stays valid UTF-8.
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
