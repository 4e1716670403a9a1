package domain

import (
	"fmt"
	"time"
)

// Customer lifecycle states. Provisioning is the record's state while the
// first signup saga runs; the others are the states of issue 3.
const (
	StateProvisioning = "provisioning"
	StateActive       = "active"
	StatePastDue      = "past_due"
	StateSuspended    = "suspended"
	StateCanceled     = "canceled"
	StateArchived     = "archived"
	StateDeleted      = "deleted"
)

// Customer is the persisted lifecycle record of one customer (Stripe
// customer id). ActiveSaga is the saga running for it: while one runs,
// lifecycle events wait (pending) and are applied, oldest Stripe event
// first, when it finishes.
type Customer struct {
	ID             string
	Plan           string
	State          string
	SubscriptionID string
	Email          string
	Name           string
	Timezone       string
	DatabaseRef    string
	InstanceURL    string
	ArchiveRef     string
	ActiveSaga     string
	// LastEventAt is the Stripe created-time of the last event applied for
	// SubscriptionID; older events of that subscription are stale.
	LastEventAt time.Time
	// Timers, zero when unset: end of the payment grace period (then
	// suspend), archive (day 7 after cancellation), deletion (day 30).
	GraceUntil, ArchiveAt, DeleteAt time.Time
	CreatedAt, UpdatedAt            time.Time
}

// EventKind is what a customer event says happened.
type EventKind string

// The kinds of customer events.
const (
	SignedUp         EventKind = "signed_up"
	PlanChanged      EventKind = "plan_changed"
	TrialWillEnd     EventKind = "trial_will_end"
	PaymentFailed    EventKind = "payment_failed"
	PaymentSucceeded EventKind = "payment_succeeded"
	Canceled         EventKind = "canceled"
)

// Event is a customer.* event as the lifecycle machine needs it.
type Event struct {
	// ID is the Stripe event id (the processed-event key).
	ID string
	// Kind is what happened; Subject names the event for records (the
	// cause of the state changes it makes).
	Kind           EventKind
	Subject        string
	CustomerID     string
	SubscriptionID string
	// Created is Stripe's event creation time (zero when unknown).
	Created time.Time
	// Plan is the new plan (plan_changed) or the signed-up plan.
	Plan string
	// Signup is set for customer.signed_up.
	Signup *Signup
	// Details are kind-specific notice values (trial end, invoice id).
	Details map[string]string
}

// Lifecycle is the timing of the lifecycle timers.
type Lifecycle struct {
	// Grace is how long a customer stays past_due before suspension.
	Grace time.Duration
	// ArchiveAfter and DeleteAfter count from the cancellation.
	ArchiveAfter, DeleteAfter time.Duration
}

// DefaultLifecycle is 72h grace, archive at day 7, deletion at day 30.
var DefaultLifecycle = Lifecycle{Grace: 72 * time.Hour, ArchiveAfter: 7 * 24 * time.Hour, DeleteAfter: 30 * 24 * time.Hour}

// Event statuses, as recorded per Stripe event id.
const (
	EventPending = "pending"
	EventApplied = "applied"
	EventIgnored = "ignored"
	EventDropped = "dropped"
)

// Notice is a customer.notice to publish.
type Notice struct {
	// ID is deterministic: kind-customer-key.
	ID      string
	Kind    string
	Details map[string]string
}

// StateChange is a customer.state_changed to publish.
type StateChange struct {
	From, To, Cause, SagaID string
	// Key makes its message id deterministic (saga or event id).
	Key string
}

// Effects is what a lifecycle transition causes besides the record.
type Effects struct {
	// Saga is a saga to create (with its first commands in SagaOut).
	Saga    *Saga
	SagaOut Outcome
	Notices []Notice
	Changes []StateChange
}

// Verdict is what an event or timer did to a customer.
type Verdict struct {
	// Status is EventApplied, EventIgnored or EventPending.
	Status string
	Reason string
	Effects
}

func pending(format string, args ...any) Verdict {
	return Verdict{Status: EventPending, Reason: fmt.Sprintf(format, args...)}
}

func ignored(format string, args ...any) Verdict {
	return Verdict{Status: EventIgnored, Reason: fmt.Sprintf(format, args...)}
}

func (c *Customer) notice(v *Verdict, kind, key string, details map[string]string) {
	v.Notices = append(v.Notices, Notice{ID: fmt.Sprintf("%s-%s-%s", kind, c.ID, key), Kind: kind, Details: details})
}

func (c *Customer) setState(v *Verdict, to, cause, sagaID, key string) {
	if c.State == to {
		return
	}
	v.Changes = append(v.Changes, StateChange{From: c.State, To: to, Cause: cause, SagaID: sagaID, Key: key})
	c.State = to
}

// begin starts a saga of kind for c and makes it c's active saga.
func (c *Customer) begin(v *Verdict, spec Saga, steps []StepName, now time.Time, p Policy) {
	spec.CustomerID = c.ID
	if spec.Plan == "" {
		spec.Plan = c.Plan
	}
	spec.Email, spec.Name, spec.Timezone = c.Email, c.Name, c.Timezone
	spec.DatabaseRef, spec.InstanceURL, spec.ArchiveRef = c.DatabaseRef, c.InstanceURL, c.ArchiveRef
	v.Saga, v.SagaOut = Begin(spec, steps, now, p)
	c.ActiveSaga = spec.ID
}

// lifecycleSagaID is the deterministic id of a lifecycle saga: the same
// event or timer always names the same saga, so a duplicate creates none.
func lifecycleSagaID(kind, customerID, key string) string {
	return fmt.Sprintf("%s-%s-%s", kind, customerID, key)
}

// ApplyEvent decides what e does to c (nil: the customer is not known) at
// now. It returns the customer as it must be saved (nil when it stays
// unknown) and the verdict. sagaExists reports whether a saga id is taken
// (a replayed customer.signed_up).
func ApplyEvent(c *Customer, e Event, now time.Time, l Lifecycle, p Policy, sagaExists func(string) bool) (*Customer, Verdict) {
	if e.Kind == SignedUp {
		return signedUp(c, e, now, p, sagaExists)
	}
	if c == nil {
		return nil, pending("customer %s not known yet", e.CustomerID)
	}
	if c.ActiveSaga != "" {
		return c, pending("saga %s running", c.ActiveSaga)
	}
	if e.SubscriptionID != "" && c.SubscriptionID != "" && e.SubscriptionID != c.SubscriptionID {
		return c, ignored("event of subscription %s; current subscription is %s", e.SubscriptionID, c.SubscriptionID)
	}
	if !e.Created.IsZero() && e.Created.Before(c.LastEventAt) {
		return c, ignored("stale: created %s, last applied %s", e.Created.UTC().Format(time.RFC3339), c.LastEventAt.UTC().Format(time.RFC3339))
	}
	v := lifecycleEvent(c, e, now, l, p)
	if v.Status == EventApplied && e.Created.After(c.LastEventAt) {
		c.LastEventAt = e.Created
	}
	return c, v
}

func signedUp(c *Customer, e Event, now time.Time, p Policy, sagaExists func(string) bool) (*Customer, Verdict) {
	in := e.Signup
	if sagaExists(in.SagaID) {
		return c, ignored("saga %s exists: duplicate customer.signed_up", in.SagaID)
	}
	if c != nil && c.ActiveSaga != "" {
		return c, pending("saga %s running", c.ActiveSaga)
	}
	applied := Verdict{Status: EventApplied}
	if c == nil || c.State == StateDeleted || (c.State == StateProvisioning && c.ActiveSaga == "") {
		// A new customer, or one with nothing left: a full signup.
		created := now
		if c != nil {
			created = c.CreatedAt
		}
		c = &Customer{ID: in.CustomerID, CreatedAt: created, State: c.stateOr("")}
		c.Plan, c.SubscriptionID, c.Email, c.Name, c.Timezone = in.Plan, e.SubscriptionID, in.Email, in.Name, in.Timezone
		// Ordering starts with the first lifecycle event: a signup's own
		// time says nothing about the subscription's events.
		s, out := Start(*in, now, p)
		applied.Saga, applied.SagaOut = s, out
		c.ActiveSaga = s.ID
		c.setState(&applied, StateProvisioning, e.Subject, s.ID, s.ID)
		return c, applied
	}
	switch c.State {
	case StateCanceled, StateArchived:
		// A returning customer before day 30: their data comes back.
		c.Plan, c.SubscriptionID, c.LastEventAt = in.Plan, e.SubscriptionID, time.Time{}
		if in.Email != "" {
			c.Email, c.Name, c.Timezone = in.Email, in.Name, in.Timezone
		}
		steps := []StepName{Rekey, StartCompute}
		if c.State == StateArchived {
			steps = []StepName{Restore, Rekey, StartCompute}
		}
		c.begin(&applied, Saga{ID: in.SagaID, Kind: KindReactivate, CheckoutSessionID: in.CheckoutSessionID, Plan: in.Plan, Cause: e.ID}, steps, now, p)
		return c, applied
	}
	return c, ignored("customer is %s: already subscribed", c.State)
}

func (c *Customer) stateOr(def string) string {
	if c == nil {
		return def
	}
	return c.State
}

func lifecycleEvent(c *Customer, e Event, now time.Time, l Lifecycle, p Policy) Verdict {
	v := Verdict{Status: EventApplied}
	switch e.Kind {
	case PlanChanged:
		switch {
		case e.Plan == "":
			return ignored("no plan")
		case c.State != StateActive && c.State != StatePastDue && c.State != StateSuspended:
			return ignored("customer is %s", c.State)
		case e.Plan == c.Plan:
			return ignored("already on plan %s", e.Plan)
		}
		c.begin(&v, Saga{ID: lifecycleSagaID(KindPlanChange, c.ID, e.ID), Kind: KindPlanChange, Plan: e.Plan, PreviousPlan: c.Plan, Cause: e.ID},
			[]StepName{Resize, Skills}, now, p)
	case TrialWillEnd:
		if c.State != StateActive && c.State != StatePastDue {
			return ignored("customer is %s", c.State)
		}
		c.notice(&v, "trial_will_end", e.ID, e.Details)
	case PaymentFailed:
		switch c.State {
		case StateActive:
			c.GraceUntil = now.Add(l.Grace)
			c.setState(&v, StatePastDue, e.Subject, "", e.ID)
		case StatePastDue:
		default:
			return ignored("customer is %s", c.State)
		}
		d := map[string]string{"grace_until": c.GraceUntil.UTC().Format(time.RFC3339)}
		for k, val := range e.Details {
			d[k] = val
		}
		c.notice(&v, "payment_failed", e.ID, d)
	case PaymentSucceeded:
		switch c.State {
		case StatePastDue:
			c.GraceUntil = time.Time{}
			c.setState(&v, StateActive, e.Subject, "", e.ID)
		case StateSuspended:
			c.begin(&v, Saga{ID: lifecycleSagaID(KindResume, c.ID, e.ID), Kind: KindResume, Cause: e.ID}, []StepName{StartCompute}, now, p)
		default:
			return ignored("customer is %s: nothing to resume", c.State)
		}
	case Canceled:
		switch c.State {
		case StateActive, StatePastDue, StateSuspended:
			c.GraceUntil = time.Time{}
			c.begin(&v, Saga{ID: lifecycleSagaID(KindCancel, c.ID, e.ID), Kind: KindCancel, Cause: e.ID}, []StepName{Stop, Revoke}, now, p)
		case StateProvisioning:
			// The first signup failed and left the record: clean up all.
			c.begin(&v, Saga{ID: lifecycleSagaID(KindDeprovision, c.ID, e.ID), Kind: KindDeprovision, Cause: e.ID}, DeprovisionSteps, now, p)
		default:
			return ignored("customer is %s", c.State)
		}
	default:
		return ignored("not a lifecycle event: %s", e.Subject)
	}
	return v
}

// DeprovisionSteps delete everything a customer may have.
var DeprovisionSteps = []StepName{DestroyCompute, DestroyWorkspace, DestroyDatabase, DestroyArchive}
